// How fast one processor process, pinned to one core, turns Kafka input into features, inferences
// and sessions with exactly-once results, against a bare kafkajs consumer that reads the same
// topic in the same run, pinned to the same core, and does nothing with it.
//
// Starts Kafka through scripts/servers, loads two inputs made by the edge's own code from the
// simulator (1,000 sensors by default, in 5 groups, 4 partitions):
//   raw       EW_BENCH_RAW_S seconds (default 20) of 200 Hz raw frames, 10 samples each, packed per
//             group and 50 ms flush as the bridge packs them: the processor cuts windows, computes
//             features, classifies and builds sessions;
//   features  EW_BENCH_FEATURES_S seconds (default 240) of edge feature frames (the uplink preset):
//             every window is classified, so this measures inference.
// For each, the bare consumer reads the topic, then a fresh processor group processes it; rates
// are taken between the first and the last committed progress (group joins not counted).
// Then the raw input again, published at the sensors' own pace (one flush per 50 ms): the
// processor's CPU share and RSS at 1,000 live sensors, and each window's delay from the flush
// holding its last sample to a read_committed reader of the inference topic.
// Then the archive (`archive`): the raw input through the processor's S3 archive as the processor
// runs it (its child process, archiver-apart.ts, pinned to the same core) into the test MinIO:
// Parquet rows (samples) per second between its first and last flush, CPU µs per row over the
// whole run, its peak RSS, and that every frame was archived.
// Run: npm run bench:processor [-- --json] [-- --only raw,features,live,archive]   (EW_BENCH_SENSORS=1000,
// EW_BENCH_CPU=1 the core; the processor runs with the chart's processor.nodeArgs, or with
// EW_BENCH_NODE_ARGS in their place, e.g. "--cpu-prof ...", "" for none)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { parseProcessorConfig } from '../cloud/processor/config.js';
import { inferenceLines } from '../cloud/processor/records.js';
import { loadDsp, presetSettings } from '../dsp/src/index.js';
import { Pipeline } from '../edge/pipeline.js';
import { SeqStore } from '../edge/seq-store.js';
import { Simulator } from '../edge/simulator.js';
import { decodeBatch, encodeBatch, type Frame } from '../protocol/index.js';
import { startServers, stopServers } from '../scripts/servers/index.js';
import { nodeArgsFor } from './node-args.js';
import { procUsage } from './proc.js';

const json = process.argv.includes('--json');
const PHASES = ['raw', 'features', 'live', 'archive'] as const;
const onlyAt = process.argv.indexOf('--only');
const only = new Set(onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '').split(',').filter(Boolean) : PHASES);
for (const p of only) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`--only: unknown phase ${JSON.stringify(p)} (phases: ${PHASES.join(', ')})`);
const SENSORS = Number(process.env.EW_BENCH_SENSORS ?? 1000);
const RAW_S = Number(process.env.EW_BENCH_RAW_S ?? 20);
const FEATURES_S = Number(process.env.EW_BENCH_FEATURES_S ?? 240);
const CPU = process.env.EW_BENCH_CPU ?? '1';
const NODE_ARGS = nodeArgsFor('processor', process.env.EW_BENCH_NODE_ARGS);
const RATE = 200;
/** Sample time of the first sample, µs. */
const T0 = 1_795_000_000_000_000;
const PARTITIONS = 4;
const root = new URL('..', import.meta.url).pathname;
const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
const hasTaskset = spawnSync('taskset', ['-V']).status === 0;
const pinned = (args: string[]) => (hasTaskset ? ['taskset', ['-c', CPU, ...args]] : [args[0]!, args.slice(1)]) as [string, string[]];

const started = await startServers(only.has('archive') ? ['kafka', 'minio'] : ['kafka']);
if (started.failed.length) throw new Error(`servers did not start: ${started.failed.map((f) => `${f.name}: ${f.error.message}`).join('; ')} (run npm run servers:install)`);
const env = Object.assign({}, ...started.started.map((s) => s.env)) as Record<string, string>;
const brokers = [env.EW_KAFKA_BROKERS!];
const kafka = new Kafka({ clientId: 'bench-processor', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const dir = mkdtempSync(join(tmpdir(), 'edgewave-bench-processor-'));
const run = `bench-${Date.now().toString(36)}`;

/** Records of `seconds` of simulated sensors in one mode: one batch per group per 50 ms flush. */
async function makeInput(mode: 'raw' | 'features', seconds: number): Promise<{ records: { key: string; value: Buffer; flush: number }[]; frames: number; samples: number; windows: number }> {
  const dsp = await loadDsp();
  const p = new Pipeline({ gatewayId: 'gw-bench', topicRoot: 'edgewave', dsp, seq: SeqStore.open(join(dir, `seq-${mode}.json`)), capacity: SENSORS, features: presetSettings('uplink') });
  const sim = new Simulator({ sensors: SENSORS, sampleRate: RATE, seed: 11, groups: 5, dropoutsPerHour: 0, meanDwellS: 20 });
  for (const x of sim.sensors) p.register({ sensorId: x.sensorId, group: x.group, sampleRate: RATE, mode, decimate: 1 });
  const records: { key: string; value: Buffer; flush: number }[] = [];
  let frames = 0;
  let samples = 0;
  let windows = 0;
  const t0 = T0;
  for (let k = 0; k < (seconds * RATE) / 10; k++) {
    const st = sim.next(10);
    sim.sensors.forEach((x, i) => p.add(x.sensorId, st.samples[i]!, t0 + k * 50_000));
    const byGroup = new Map<string, Frame[]>();
    for (const item of p.flush().items) {
      for (const f of decodeBatch(item.payload, { maxFutureMs: Infinity, copy: true })) {
        let g = byGroup.get(f.group);
        if (!g) byGroup.set(f.group, (g = []));
        g.push(f);
        frames++;
        if (f.kind === 'raw') samples += f.count;
        else windows += f.count;
      }
    }
    for (const [group, fs] of byGroup) records.push({ key: group, value: Buffer.from(encodeBatch(fs)), flush: k });
  }
  return { records, frames, samples, windows };
}

async function load(topic: string, records: { key: string; value: Buffer }[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  // Requests of at most about 512 KiB: the broker refuses record batches above 1 MiB.
  let chunk: { key: string; value: Buffer }[] = [];
  let bytes = 0;
  for (const r of [...records, null]) {
    if (!r || bytes + r.value.length > 512 * 1024) {
      if (chunk.length) await producer.send({ topic, acks: -1, messages: chunk });
      chunk = [];
      bytes = 0;
    }
    if (r) {
      chunk.push(r);
      bytes += r.value.length;
    }
  }
  await producer.disconnect();
}

async function endOffsets(topic: string): Promise<Map<number, bigint>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
}

/** The bare consumer: kafkajs, eachBatch doing nothing but counting, in a child pinned like the processor. */
async function bareConsumer(topic: string, records: number): Promise<{ msgsPerS: number; rssMb: number }> {
  const script = `
    import { Kafka, logLevel } from 'kafkajs';
    const kafka = new Kafka({ clientId: 'bench-bare', brokers: ${JSON.stringify(brokers)}, logLevel: logLevel.NOTHING });
    const c = kafka.consumer({ groupId: '${run}-bare-${topic}', maxWaitTimeInMs: 100 });
    await c.connect();
    await c.subscribe({ topic: '${topic}', fromBeginning: true });
    let n = 0, first = 0, last = 0, rss = 0;
    await c.run({ autoCommit: false, eachBatch: async ({ batch }) => {
      if (!batch.messages.length) return;
      if (!first) first = performance.now();
      n += batch.messages.length;
      last = performance.now();
      rss = Math.max(rss, process.memoryUsage().rss);
      if (n >= ${records}) { console.log(JSON.stringify({ n, first, last, rss })); process.exit(0); }
    } });`;
  const [cmd, args] = pinned([process.execPath, '--input-type=module', '-e', script]);
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  const r = JSON.parse(out) as { n: number; first: number; last: number; rss: number };
  return { msgsPerS: r.n / ((r.last - r.first) / 1000), rssMb: r.rss / 2 ** 20 };
}

interface ProcessorRun {
  recordsPerS: number;
  framesPerS: number;
  windowsPerS: number;
  inferencesPerS: number;
  seconds: number;
  /** Share of its core the processor used while catching up. */
  cpu: number;
  rssMb: number;
  heapMb: number;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^edgewave_processor_${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Child {
  child: ChildProcess;
  url: string;
  groupId: string;
  topics: Record<'raw' | 'features' | 'inferences' | 'sessions' | 'deadletter' | 'processorState', string>;
}

/** Starts one processor (pinned) over `input` in a group of its own; resolves once it serves /metrics. */
async function startChild(input: string, label: string): Promise<Child> {
  const topics = { raw: `${run}.${label}.raw`, features: `${run}.${label}.features`, inferences: `${run}.${label}.inferences`, sessions: `${run}.${label}.sessions`, deadletter: `${run}.${label}.deadletter`, processorState: `${run}.${label}.state` };
  const copyTo = input.endsWith('.raw') ? 'raw' : 'features';
  await admin.createTopics({
    topics: Object.entries(topics)
      .filter(([k]) => k !== copyTo)
      .map(([k, topic]) => ({ topic, numPartitions: PARTITIONS, ...(k === 'processorState' ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}) })),
    waitForLeaders: true,
  });
  const groupId = `${run}-${label}`;
  const config = {
    kafka: { brokers, topics: { ...topics, [copyTo]: input }, groupId, transactionalIdPrefix: `${groupId}-tx` },
    sessions: { minSensors: 3, startAfterS: 5, idleGapS: 20 },
    model: { reloadS: 0 },
    http: { port: 0 },
    logLevel: process.env.EW_BENCH_LOG ?? 'warn',
  };
  const file = join(dir, `${label}.json`);
  writeFileSync(file, JSON.stringify(config));
  const [cmd, args] = pinned([process.execPath, ...NODE_ARGS, join(root, 'bin/edgewave.js'), 'processor', '--config', file]);
  const child: ChildProcess = spawn(cmd, args, { cwd: root, stdio: ['ignore', process.env.EW_BENCH_VERBOSE ? 'inherit' : 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => process.env.EW_BENCH_VERBOSE && process.stderr.write(d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /metrics on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`processor exited ${code}: ${err}`)));
  });
  return { child, url, groupId, topics: { ...topics, [copyTo]: input } };
}

/** Stops a processor: SIGTERM, then SIGKILL after 15 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(hard);
}

/** One processor over `input` from the start, until its committed offsets reach the end. */
async function processorRun(input: string, label: string): Promise<ProcessorRun> {
  const { child, url, groupId } = await startChild(input, label);
  const end = await endOffsets(input);
  const total = [...end.values()].reduce((a, b) => a + b, 0n);
  type Point = { t: number; frames: number; windows: number; inferences: number; records: bigint };
  let first: Point | null = null;
  let last: Point | null = null;
  let rss = 0;
  let heap = 0;
  let cpuFirst = 0;
  let cpuLast = 0;
  try {
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const [offs] = await admin.fetchOffsets({ groupId, topics: [input] });
      const done = (offs?.partitions ?? []).reduce((n, p) => n + (Number(p.offset) > 0 ? BigInt(p.offset) : 0n), 0n);
      const text = await (await fetch(`${url}/metrics`)).text();
      rss = Math.max(rss, procUsage(child.pid!).rssMb);
      heap = Math.max(heap, metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20);
      const point = { t: performance.now(), frames: metric(text, 'frames_total'), windows: metric(text, 'windows_total'), inferences: metric(text, 'inferences_total'), records: done };
      const cpuS = procUsage(child.pid!).cpuS;
      if (!first && done > 0n) {
        first = point;
        cpuFirst = cpuS;
      }
      cpuLast = cpuS;
      if (Math.floor(point.t / 5000) !== Math.floor((last?.t ?? 0) / 5000)) say(`  ${label}: ${done}/${total} records committed, ${point.windows} windows`);
      last = point;
      if (done >= total) break;
      if (Date.now() > deadline) throw new Error(`${label}: the processor did not finish in 15 minutes (${done}/${total} records)`);
    }
  } finally {
    // The processor's pid is taskset's when pinned: taskset execs, so it is the same process. Stopped
    // on a failure too: one left running would take CPU from every later run.
    await stopChild(child);
  }
  const s = (last!.t - first!.t) / 1000;
  return {
    recordsPerS: Number(last!.records - first!.records) / s,
    framesPerS: (last!.frames - first!.frames) / s,
    windowsPerS: (last!.windows - first!.windows) / s,
    inferencesPerS: (last!.inferences - first!.inferences) / s,
    seconds: s,
    cpu: (cpuLast - cpuFirst) / s,
    rssMb: rss,
    heapMb: heap,
  };
}

interface LiveRun {
  windows: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpu: number;
  rssMb: number;
}

/**
 * The processor at the sensors' own pace: the raw records published as an edge fleet would, one
 * flush every 50 ms, while a read_committed reader of the inference topic measures each window's
 * delay from the moment its last sample was flushed to the moment the reader has it.
 */
async function liveRun(records: { key: string; value: Buffer; flush: number }[]): Promise<LiveRun> {
  const input = `${run}.live.raw`;
  await admin.createTopics({ topics: [{ topic: input, numPartitions: PARTITIONS }], waitForLeaders: true });
  const { child, topics } = await startChild(input, 'live');
  try {
    const delays: number[] = [];
    const reader = kafka.consumer({ groupId: `${run}-live-reader`, readUncommitted: false, maxWaitTimeInMs: 20 });
    await reader.connect();
    await reader.subscribe({ topic: topics.inferences, fromBeginning: true });
    let start = 0;
    await reader.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const now = performance.now();
        for (const m of batch.messages) {
          for (const line of inferenceLines(m.value!.toString())) {
            const w = JSON.parse(line) as { t1: number };
            // The window's last sample is in the flush that ends at or after t1.
            const flushEnd = Math.ceil((w.t1 - T0) / 50_000) * 50;
            delays.push(now - (start + flushEnd));
          }
        }
      },
    });
    await new Promise((r) => setTimeout(r, 3000)); // the reader joins its group
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const before = procUsage(child.pid!);
    let rss = before.rssMb;
    start = performance.now();
    const byFlush = new Map<number, { key: string; value: Buffer }[]>();
    for (const r of records) {
      let list = byFlush.get(r.flush);
      if (!list) byFlush.set(r.flush, (list = []));
      list.push({ key: r.key, value: r.value });
    }
    const flushes = [...byFlush.keys()].sort((a, b) => a - b);
    for (const k of flushes) {
      // Flush k holds samples up to (k + 1) * 50 ms.
      const due = start + (k + 1) * 50;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await producer.send({ topic: input, acks: -1, messages: byFlush.get(k)! });
      if (k % 20 === 0) rss = Math.max(rss, procUsage(child.pid!).rssMb);
    }
    const after = procUsage(child.pid!);
    const seconds = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 3000));
    await producer.disconnect();
    await reader.disconnect();
    const sorted = delays.slice().sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
    return { windows: delays.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: sorted.at(-1) ?? NaN, cpu: (after.cpuS - before.cpuS) / seconds, rssMb: Math.max(rss, after.rssMb) };
  } finally {
    await stopChild(child);
  }
}

interface ArchiveRun {
  rowsPerS: number;
  framesPerS: number;
  /** Between the first and the last flush by size. */
  seconds: number;
  cpuUsPerRow: number;
  rssMb: number;
  frames: number;
  objects: number;
  mb: number;
}

/**
 * The processor's archive alone, as the processor starts it (archiver-apart.ts's child, from dist/,
 * pinned), over `input` from the start into a bucket of the run's own. Flushes by size only (8 MB,
 * the default) while it catches up; the rest when it has read everything (flushAll).
 */
async function archiveRun(input: string, frames: number, samplesPerFrame: number): Promise<ArchiveRun> {
  const s3 = { endpoint: env.EW_S3_ENDPOINT!, region: env.EW_S3_REGION ?? 'us-east-1', accessKeyId: env.EW_S3_ACCESS_KEY_ID!, secretAccessKey: env.EW_S3_SECRET_ACCESS_KEY! };
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  const bucket = `${run}-archive`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const config = parseProcessorConfig({
    kafka: { brokers, topics: { raw: input, features: `${run}.archive.features` }, groupId: `${run}-archive-bench`, transactionalIdPrefix: `${run}-archive-bench` },
    s3,
    // At the processor's own priority: this measures what it can do, not what it yields.
    archive: { url: `s3://${bucket}/archive`, flushS: 3600, groupId: `${run}-archive`, nice: 0 },
    logLevel: 'debug',
  });
  await admin.createTopics({ topics: [{ topic: config.kafka.topics.features, numPartitions: PARTITIONS }], waitForLeaders: true });
  const [cmd, args] = pinned([process.execPath, ...NODE_ARGS, join(root, 'dist/cloud/store/archiver-apart.js')]);
  const child: ChildProcess = spawn(cmd, args, { cwd: root, env: { ...process.env, EW_ARCHIVER_CHILD: '1' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  // Each flush's end, from the archive's debug log (stdout): its time and frames.
  const flushes: { t: number; frames: number }[] = [];
  let archived = 0;
  let tail = '';
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => void (errors += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"archive flushed"')) {
        archived += (JSON.parse(line) as { frames: number }).frames;
        flushes.push({ t: performance.now(), frames: archived });
      } else if (/"level":(40|50|60)/.test(line)) errors += `${line}\n`;
    }
  });
  type Msg = { type: string; id?: number; stats?: { frames: number; objects: number; bytes: number }; message?: string; error?: string };
  const messages: Msg[] = [];
  const waitFor = async (pred: (m: Msg) => boolean, what: string, ms: number): Promise<Msg> => {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      const m = messages.find(pred);
      if (m) return m;
      if (child.exitCode !== null || child.signalCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`archive: ${what} did not come within ${ms / 1000} s (${errors.slice(-2000)})`);
  };
  child.on('message', (m: Msg) => messages.push(m));
  const before = procUsage(child.pid!);
  let rss = 0;
  const sampler = setInterval(() => {
    try {
      rss = Math.max(rss, procUsage(child.pid!).rssMb);
    } catch {
      // gone
    }
  }, 100);
  try {
    child.send({ type: 'start', config });
    const ready = await waitFor((m) => m.type === 'ready' || m.type === 'failed', 'its start', 60_000);
    if (ready.type === 'failed') throw new Error(`archive did not start: ${ready.message}`);
    // Caught up when the flushes by size stop (none for 5 s): what is left in its buffers is then
    // written at once (flushAll), and again until every frame is.
    let bySize: { t: number; frames: number }[] | null = null;
    let flushed: Msg | undefined;
    let lastCount = -1;
    let since = Date.now();
    for (let id = 1, deadline = Date.now() + 15 * 60_000; ; ) {
      await new Promise((r) => setTimeout(r, 250));
      if (archived !== lastCount) {
        lastCount = archived;
        since = Date.now();
        say(`  archive: ${archived}/${frames} frames archived`);
      } else if (Date.now() - since > 5000) {
        bySize ??= flushes.slice();
        child.send({ type: 'flushAll', id });
        flushed = await waitFor((m) => m.type === 'flushed' && m.id === id, 'a flush of everything', 120_000);
        id++;
        if (flushed.error) throw new Error(`archive: a flush of everything failed: ${flushed.error}`);
        if (flushed.stats!.frames >= frames) break;
        since = Date.now();
      }
      if (Date.now() > deadline) throw new Error(`archive: not caught up in 15 minutes (${archived}/${frames} frames)`);
    }
    const after = procUsage(child.pid!);
    if (flushed!.stats!.frames !== frames) throw new Error(`archive: ${flushed!.stats!.frames} frames archived of ${frames}`);
    const sized = bySize ?? flushes;
    if (sized.length < 3) throw new Error(`archive: ${sized.length} flushes by size, too few to time (more input: EW_BENCH_RAW_S)`);
    const first = sized[0]!;
    const last = sized.at(-1)!;
    const seconds = (last.t - first.t) / 1000;
    return {
      rowsPerS: ((last.frames - first.frames) * samplesPerFrame) / seconds,
      framesPerS: (last.frames - first.frames) / seconds,
      seconds,
      cpuUsPerRow: ((after.cpuS - before.cpuS) * 1e6) / (frames * samplesPerFrame),
      rssMb: rss,
      frames: flushed!.stats!.frames,
      objects: flushed!.stats!.objects,
      mb: flushed!.stats!.bytes / 1e6,
    };
  } finally {
    clearInterval(sampler);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'stop' });
      child.disconnect();
      const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(hard);
    }
    try {
      for (;;) {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
        const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (!keys.length) break;
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (err) {
      say(`bench:processor: the archive bucket ${bucket} was not removed: ${(err as Error).message}`);
    }
    client.destroy();
  }
}

try {
  say(`bench:processor: ${SENSORS} sensors x ${RATE} Hz, ${RAW_S} s raw and ${FEATURES_S} s of edge features, processor and bare consumer pinned to CPU ${hasTaskset ? CPU : '(taskset missing: not pinned)'}; processor node options: ${NODE_ARGS.join(' ') || 'none'}`);
  const raw = await makeInput('raw', RAW_S);
  const feats = only.has('features') ? await makeInput('features', FEATURES_S) : null;
  const rawTopic = `${run}.input.raw`;
  const featTopic = `${run}.input.features`;
  await admin.createTopics({ topics: [rawTopic, featTopic].map((topic) => ({ topic, numPartitions: PARTITIONS })), waitForLeaders: true });
  if (only.has('raw') || only.has('archive')) await load(rawTopic, raw.records);
  if (feats) await load(featTopic, feats.records);
  say(`loaded ${only.has('raw') || only.has('archive') ? raw.records.length : 0} raw records (${raw.samples} samples per channel) and ${feats?.records.length ?? 0} feature records (${feats?.windows ?? 0} windows)`);

  let rawResult: { bare: number; pr: ProcessorRun; samplesPerS: number } | null = null;
  if (only.has('raw')) {
    const bare = await bareConsumer(rawTopic, raw.records.length);
    say(`bare consumer, raw topic: ${bare.msgsPerS.toFixed(0)} records/s`);
    const pr = await processorRun(rawTopic, 'raw');
    const samplesPerS = pr.framesPerS * (raw.samples / raw.frames);
    say(`processor, raw: ${pr.recordsPerS.toFixed(0)} records/s, ${samplesPerS.toFixed(0)} samples/s (${(samplesPerS / (SENSORS * RATE)).toFixed(2)}x real time), ${pr.windowsPerS.toFixed(0)} windows/s, ${(pr.cpu * 100).toFixed(0)}% of its core, RSS ${pr.rssMb.toFixed(0)} MB (heap used ${pr.heapMb.toFixed(0)} MB)`);
    rawResult = { bare: bare.msgsPerS, pr, samplesPerS };
  }
  let featResult: { bare: number; pf: ProcessorRun } | null = null;
  if (feats) {
    const bare = await bareConsumer(featTopic, feats.records.length);
    const pf = await processorRun(featTopic, 'features');
    say(`processor, features: ${pf.inferencesPerS.toFixed(0)} inferences/s (bare consumer ${bare.msgsPerS.toFixed(0)} records/s, processor ${pf.recordsPerS.toFixed(0)}), ${(pf.cpu * 100).toFixed(0)}% of its core, RSS ${pf.rssMb.toFixed(0)} MB (heap used ${pf.heapMb.toFixed(0)} MB)`);
    featResult = { bare: bare.msgsPerS, pf };
  }
  const live = only.has('live') ? await liveRun(raw.records) : null;
  const archive = only.has('archive') ? await archiveRun(rawTopic, raw.frames, raw.samples / raw.frames) : null;
  if (archive) say(`archive, raw: ${archive.rowsPerS.toFixed(0)} rows (samples)/s (${(archive.rowsPerS / (SENSORS * RATE)).toFixed(2)}x real time), ${archive.cpuUsPerRow.toFixed(2)} µs of CPU a row, RSS ${archive.rssMb.toFixed(0)} MB; ${archive.frames} frames in ${archive.objects} objects, ${archive.mb.toFixed(1)} MB of Parquet`);
  if (live) say(`processor, live (raw at the sensors' pace): ${live.windows} windows, delay from flush to read_committed reader p50 ${live.p50Ms.toFixed(0)} ms, p99 ${live.p99Ms.toFixed(0)} ms; ${(live.cpu * 100).toFixed(0)}% of a core, RSS ${live.rssMb.toFixed(0)} MB`);

  const round = (x: number | null | undefined, digits = 0) => (x === undefined || x === null ? null : +x.toFixed(digits));
  const pr = rawResult?.pr;
  const pf = featResult?.pf;
  const result = {
    sensors: SENSORS,
    rate_hz: RATE,
    windows_per_s: round(pr?.windowsPerS),
    inferences_per_s: round(pf?.inferencesPerS),
    raw_samples_per_s: round(rawResult?.samplesPerS),
    real_time_factor: round(rawResult && rawResult.samplesPerS / (SENSORS * RATE), 2),
    raw_cpu: round(pr?.cpu, 3),
    processor_records_per_s: round(pr?.recordsPerS),
    bare_consumer_msgs_per_s: round(rawResult?.bare),
    ratio: round(rawResult && rawResult.pr.recordsPerS / rawResult.bare, 3),
    features_processor_records_per_s: round(pf?.recordsPerS),
    features_bare_consumer_msgs_per_s: round(featResult?.bare),
    features_ratio: round(featResult && featResult.pf.recordsPerS / featResult.bare, 3),
    features_cpu: round(pf?.cpu, 3),
    rss_mb: pr || pf ? Math.round(Math.max(pr?.rssMb ?? 0, pf?.rssMb ?? 0)) : null,
    live_rss_mb: round(live?.rssMb),
    live_cpu: round(live?.cpu, 3),
    live_windows: live?.windows ?? null,
    live_p50_ms: round(live?.p50Ms),
    live_p99_ms: round(live?.p99Ms),
    archive_rows_per_s: round(archive?.rowsPerS),
    archive_real_time_factor: round(archive && archive.rowsPerS / (SENSORS * RATE), 2),
    archive_cpu_us_per_row: round(archive?.cpuUsPerRow, 2),
    archive_rss_mb: round(archive?.rssMb),
    archive_objects: archive?.objects ?? null,
    archive_mb: round(archive?.mb, 1),
    pinned_cpu: hasTaskset ? CPU : null,
    processor_node_args: NODE_ARGS,
  };
  if (json) console.log(JSON.stringify(result));
  else {
    console.log(`\n${'measure'.padEnd(34)} ${'value'.padStart(12)} ${'target'.padStart(10)}`);
    const rows: [string, number | null, string][] = [
      ['raw samples/s (1 core)', result.raw_samples_per_s, `>= ${2 * SENSORS * RATE}`],
      ['real time factor', result.real_time_factor, '>= 2'],
      ['CPU (raw, share of its core)', result.raw_cpu, ''],
      ['windows/s (raw input)', result.windows_per_s, ''],
      ['inferences/s (edge features)', result.inferences_per_s, '>= 20000'],
      ['processor records/s (raw)', result.processor_records_per_s, ''],
      ['bare consumer records/s (raw)', result.bare_consumer_msgs_per_s, ''],
      ['ratio (processor / bare)', result.ratio, '>= 0.5'],
      ['features ratio', result.features_ratio, ''],
      ['CPU (features, share of its core)', result.features_cpu, ''],
      ['RSS MB (peak, catching up)', result.rss_mb, ''],
      ['RSS MB (peak, live 1,000 sensors)', result.live_rss_mb, '<= 300'],
      ['CPU (live, share of one core)', result.live_cpu, ''],
      ['live window delay p50 ms', result.live_p50_ms, ''],
      ['live window delay p99 ms', result.live_p99_ms, ''],
      ['archive rows/s (raw, 1 core)', result.archive_rows_per_s, ''],
      ['archive real time factor', result.archive_real_time_factor, ''],
      ['archive CPU µs a row', result.archive_cpu_us_per_row, ''],
      ['archive RSS MB (peak)', result.archive_rss_mb, ''],
    ];
    for (const [k, v, t] of rows) console.log(`${k.padEnd(34)} ${String(v ?? '-').padStart(12)} ${t.padStart(10)}`);
  }
} finally {
  await admin.disconnect().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
  await stopServers(started.started);
}
