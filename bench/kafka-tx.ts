// What a transaction costs the processor's producers with their coordinators kept
// (cloud/common/coordinator-cache.ts), against plain kafkajs in the same run on the same broker:
// each of `EW_BENCH_PRODUCERS` transactional producers (default 4, as partitions of one processor)
// commits transactions of one record and its consumer offsets, one after another, as the processor
// does per partition. The two clients take turns, `EW_BENCH_ROUNDS` rounds (default 6) of
// `EW_BENCH_TX` transactions per producer (default 50), so the machine's drift hits both alike.
// Reports per-transaction latency (p50, p99), transactions per second, FindCoordinator requests per
// transaction, and the ratios kept / plain.
// Both with the processor's retry settings (first retry after EW_BENCH_RETRY_MS, default 2 ms).
// Run: npm run bench:kafka-tx [-- --json]   (EW_KAFKA_BROKERS uses a running Kafka; else one is started)

import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { cacheCoordinators } from '../cloud/common/coordinator-cache.js';
import { startServers, stopServers } from '../scripts/servers/index.js';

const json = process.argv.includes('--json');
const producers = Number(process.env.EW_BENCH_PRODUCERS ?? 4);
const rounds = Number(process.env.EW_BENCH_ROUNDS ?? 6);
const perRound = Number(process.env.EW_BENCH_TX ?? 50);
const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
const FIND_COORDINATOR = 10;
const ADD_PARTITIONS_TO_TXN = 24;

const started = process.env.EW_KAFKA_BROKERS ? null : await startServers(['kafka']);
if (started?.failed.length) throw started.failed[0]!.error;
const brokers = process.env.EW_KAFKA_BROKERS?.split(',') ?? [started!.started[0]!.env.EW_KAFKA_BROKERS!];
const name = (p: string) => `bench-tx-${p}-${randomBytes(4).toString('hex')}`;

type System = 'plain' | 'kept';
const client = (system: System) => {
  const kafka = new Kafka({ clientId: `edgewave-bench-tx-${system}`, brokers, logLevel: logLevel.NOTHING, retry: { initialRetryTime: Number(process.env.EW_BENCH_RETRY_MS ?? 2), maxRetryTime: 5000, retries: 28 } });
  return system === 'kept' ? cacheCoordinators(kafka) : kafka;
};

const topic = name('topic');
const admin = client('plain').admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: producers }], waitForLeaders: true });
await admin.disconnect();

/** One producer per partition, connected, per system: made once, used every round. */
const made = new Map<System, { send: () => Promise<number[]>; lookups: () => number; adds: () => number; close: () => Promise<void> }>();
for (const system of ['plain', 'kept'] as System[]) {
  const kafka = client(system);
  const groupId = name(`group-${system}`);
  let lookups = 0;
  let adds = 0;
  const list = await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      const producer = kafka.producer({ transactionalId: name(`${system}-${p}`), idempotent: true, maxInFlightRequests: 1 });
      producer.on(producer.events.REQUEST, (e) => {
        if (e.payload.apiKey === FIND_COORDINATOR) lookups++;
        else if (e.payload.apiKey === ADD_PARTITIONS_TO_TXN) adds++;
      });
      await producer.connect();
      let offset = 0;
      return {
        producer,
        run: async (): Promise<number[]> => {
          const times: number[] = [];
          for (let i = 0; i < perRound; i++) {
            const t0 = performance.now();
            const tx = await producer.transaction();
            await tx.send({ topic, messages: [{ value: 'x', partition: p }] });
            await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: p, offset: String(++offset) }] }] });
            await tx.commit();
            times.push(performance.now() - t0);
          }
          return times;
        },
      };
    }),
  );
  made.set(system, {
    send: async () => (await Promise.all(list.map((x) => x.run()))).flat(),
    lookups: () => lookups,
    adds: () => adds,
    close: () => Promise.all(list.map((x) => x.producer.disconnect())).then(() => undefined),
  });
}

const times: Record<System, number[]> = { plain: [], kept: [] };
const wall: Record<System, number> = { plain: 0, kept: 0 };
const lookupsAtStart = { plain: made.get('plain')!.lookups(), kept: made.get('kept')!.lookups() };
const addsAtStart = { plain: made.get('plain')!.adds(), kept: made.get('kept')!.adds() };
for (let r = 0; r < rounds; r++) {
  for (const system of (r % 2 ? ['kept', 'plain'] : ['plain', 'kept']) as System[]) {
    const t0 = performance.now();
    times[system].push(...(await made.get(system)!.send()));
    wall[system] += performance.now() - t0;
  }
  say(`round ${r + 1}/${rounds} done`);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const result = (system: System) => {
  const sorted = [...times[system]].sort((a, b) => a - b);
  return {
    transactions: sorted.length,
    p50_ms: +percentile(sorted, 0.5).toFixed(2),
    p99_ms: +percentile(sorted, 0.99).toFixed(2),
    tx_per_s: Math.round((sorted.length / wall[system]) * 1000),
    lookups_per_tx: +((made.get(system)!.lookups() - lookupsAtStart[system]) / sorted.length).toFixed(2),
    /** AddPartitionsToTxn requests per transaction: above 1, the broker answered CONCURRENT_TRANSACTIONS (the last commit's markers not yet written) and kafkajs tried again. */
    add_partitions_per_tx: +((made.get(system)!.adds() - addsAtStart[system]) / sorted.length).toFixed(2),
  };
};
const plain = result('plain');
const kept = result('kept');
const out = {
  producers, rounds, transactions_per_round: perRound,
  plain, kept,
  ratio: { p50: +(kept.p50_ms / plain.p50_ms).toFixed(2), p99: +(kept.p99_ms / plain.p99_ms).toFixed(2), tx_per_s: +(kept.tx_per_s / plain.tx_per_s).toFixed(2) },
};
for (const m of made.values()) await m.close();
if (started) await stopServers(started.started);

if (json) console.log(JSON.stringify(out));
else {
  console.log(`\n${producers} transactional producers, transactions of one record and its offsets, ${rounds} interleaved rounds of ${perRound} each`);
  console.log('| client | p50 ms | p99 ms | tx/s | FindCoordinator per tx | AddPartitionsToTxn per tx |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [k, v] of [['kafkajs (baseline)', plain], ['coordinators kept', kept]] as const) console.log(`| ${k} | ${v.p50_ms} | ${v.p99_ms} | ${v.tx_per_s} | ${v.lookups_per_tx} | ${v.add_partitions_per_tx} |`);
  console.log(`| ratio kept / baseline | ${out.ratio.p50} | ${out.ratio.p99} | ${out.ratio.tx_per_s} | | |`);
}
