// How many frames per second one bridge process carries from MQTT to Kafka, acknowledging after
// Kafka, and the latency it adds (publish time → Kafka's LogAppendTime), against a baseline run in
// the same way on the same machine: `mosquitto_sub | kcat -P`, which acknowledges the broker as
// soon as it reads a message and checks nothing.
//
// Starts Mosquitto and Kafka through scripts/servers. For each system it publishes frames at
// increasing rates (batches of EW_BENCH_FRAMES_PER_MESSAGE frames, default 10, as gateways send
// them; QoS 1) for EW_BENCH_TRIAL_S seconds each (default 8), reads every record back from Kafka,
// and reports the highest rate at which everything arrived and the latency stayed flat.
// Run: npm run bench:bridge [-- --json]   (EW_BENCH_RATES=20000,40000 measures those rates only;
// EW_BENCH_SYSTEMS=bridge measures one system; EW_BENCH_KAFKA='{"lingerMs":0}' sets the bridge's
// kafka settings; EW_BENCH_NODE_ARGS passes node flags to the bridge, e.g. --cpu-prof)

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { decodeBatchHeaders, encodeBatch, isTick, type Frame } from '../protocol/index.js';
import { startServers, stopServers } from '../scripts/servers/index.js';

const json = process.argv.includes('--json');
const trialS = Number(process.env.EW_BENCH_TRIAL_S ?? 8);
const perMessage = Number(process.env.EW_BENCH_FRAMES_PER_MESSAGE ?? 10);
const root = new URL('..', import.meta.url).pathname;
const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
const nowMs = () => performance.timeOrigin + performance.now();

type System = 'bridge' | 'baseline';
interface Trial {
  system: System;
  offered: number;
  published: number;
  delivered: number;
  framesPerS: number;
  p50: number;
  p99: number;
  p99Last: number;
  ok: boolean;
  why?: string;
}

const started = await startServers(['mosquitto', 'kafka']);
const failed = started.failed.map((f) => `${f.name}: ${f.error.message}`);
if (failed.length) throw new Error(`servers did not start: ${failed.join('; ')} (run npm run servers:install)`);
const env = Object.assign({}, ...started.started.map((s) => s.env)) as Record<string, string>;
const brokers = [env.EW_KAFKA_BROKERS!];
const mqttUrl = env.EW_MQTT_URL!;
const mqttPort = new URL(mqttUrl).port;
const kafka = new Kafka({ clientId: 'bench-bridge', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const dir = mkdtempSync(join(tmpdir(), 'edgewave-bench-bridge-'));
let trialNo = 0;

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

let bridgeUrl = '';

/** The bridge's own view of a trial: Kafka requests, their mean time and records per request. */
async function bridgeView(): Promise<string> {
  const text = await (await fetch(`${bridgeUrl}/metrics`)).text();
  const v = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
  const requests = v('edgewave_bridge_kafka_latency_seconds_count');
  const records = [...text.matchAll(/^edgewave_bridge_records_total\{[^}]*\} (\S+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  // The share of messages the bridge held (received to acknowledged) longer than 20 ms.
  const acks = v('edgewave_bridge_ack_latency_seconds_count');
  const within20 = v('edgewave_bridge_ack_latency_seconds_bucket{le="0.02"}');
  return `; bridge: ${requests} Kafka requests, ${((v('edgewave_bridge_kafka_latency_seconds_sum') / requests) * 1000).toFixed(1)} ms each, ${(records / requests).toFixed(0)} records each; held over 20 ms: ${(((acks - within20) / acks) * 100).toFixed(2)}% of messages`;
}

async function startSystem(system: System, name: string, topics: Record<string, string>): Promise<ChildProcess> {
  if (system === 'bridge') {
    const cfg = join(dir, `${name}.json`);
    writeFileSync(cfg, JSON.stringify({
      mqtt: { url: mqttUrl, clientId: name, shareGroup: name, topicRoot: name, subscribe: ['batch'] },
      kafka: { brokers, topics, ...JSON.parse(process.env.EW_BENCH_KAFKA ?? '{}') },
      http: { port: 0 },
      logLevel: 'warn',
    }));
    const nodeArgs = (process.env.EW_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const proc = spawn(process.execPath, [...nodeArgs, join(root, 'bin/edgewave.js'), 'bridge', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /ready and metrics on (http:\/\/\S+)/.exec(err);
        if (m) {
          bridgeUrl = m[1]!;
          resolve();
        }
      });
      proc.once('exit', (code) => reject(new Error(`bridge exited ${code}: ${err}`)));
    });
    return proc;
  }
  // Hex payloads, one per line, because kcat splits its input at newlines.
  const cmd = `stdbuf -oL mosquitto_sub -h 127.0.0.1 -p ${mqttPort} -V mqttv5 -q 1 -c -i ${name} -t '${name}/+/batch' -F %x | kcat -P -b ${brokers[0]} -t ${topics.raw} -X acks=all -X enable.idempotence=true`;
  const proc = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  // kcat says "Program terminated while producing message" when the trial stops it with the last
  // tail message (below) in hand, after everything counted has arrived; anything else is shown.
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    if (!line.includes('Program terminated while producing message')) process.stderr.write(`${line}\n`);
  });
  return proc;
}

async function stopSystem(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    process.kill(proc.spawnargs[0] === 'sh' ? -proc.pid! : proc.pid!, 'SIGTERM');
  } catch {
    // gone already
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
}

async function trial(system: System, framesPerS: number): Promise<Trial> {
  const name = `bench-${system}-${Date.now().toString(36)}-${trialNo++}`;
  const topics = { raw: `${name}.raw`, features: `${name}.features`, status: `${name}.status`, deadletter: `${name}.deadletter` };
  await admin.createTopics({
    topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 4, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] })),
    waitForLeaders: true,
  });
  const proc = await startSystem(system, name, topics);
  await new Promise((r) => setTimeout(r, 1000));

  // (sensor index, seq) → publish time; every frame of a message shares it.
  const sensors = 1000;
  const gateways = 10;
  const perSensor = Math.ceil(((framesPerS * trialS) / sensors) * 1.2) + 10;
  const publishedAt = new Float64Array(sensors * perSensor).fill(NaN);
  const latencies: number[] = [];
  const lateLatencies: number[] = [];
  let delivered = 0;
  const consumer = kafka.consumer({ groupId: `${name}-reader`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: topics.raw, fromBeginning: true });
  let lateFrom = Infinity;
  let warmUntil = Infinity;
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        if (isTick(m.headers)) continue;
        const appended = Number(m.timestamp);
        const bytes = system === 'baseline' ? Buffer.from(m.value!.toString(), 'hex') : m.value!;
        for (const h of decodeBatchHeaders(bytes, { maxFutureMs: Infinity })) {
          if (h.sensorId === 'tail') continue;
          const at = publishedAt[Number(h.sensorId.slice(2)) * perSensor + h.seq]!;
          const ms = appended - at;
          // The first second warms the bridge up (JIT, Kafka metadata): not counted.
          if (at >= warmUntil) latencies.push(ms);
          if (at >= lateFrom) lateLatencies.push(ms);
          delivered++;
        }
      }
    },
  });

  const client = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId: `${name}-pub` });
  const messagesPerS = framesPerS / perMessage;
  const total = Math.floor(messagesPerS * trialS);
  const seqOf = new Int32Array(sensors);
  let published = 0;
  let outstanding = 0;
  const start = nowMs();
  lateFrom = start + (trialS * 1000 * 2) / 3;
  warmUntil = start + 1000;
  const t0 = Date.now() * 1000;
  const frameOf = (s: number): Frame => ({
    kind: 'raw', flags: 0, sensorId: `s-${s}`, gatewayId: `gw-${s % gateways}`, group: `grp-${s % 50}`, seq: seqOf[s]!, t0,
    sampleRate: 200, count: 10, width: 6, window: 0, hop: 0, layoutId: 1, data: new Float32Array(60).fill(1),
  });
  let next = 0;
  for (let m = 0; m < total; m++) {
    // Pace: message m goes out at start + m / rate.
    const due = start + (m / messagesPerS) * 1000;
    while (nowMs() < due || outstanding > 2000) await new Promise((r) => setImmediate(r));
    const g = m % gateways;
    const frames: Frame[] = [];
    for (let k = 0; k < perMessage; k++) {
      // Sensors of gateway g, round robin.
      const s = (next++ * gateways + g) % sensors;
      frames.push(frameOf(s));
    }
    const at = nowMs();
    for (const f of frames) {
      const s = Number(f.sensorId.slice(2));
      publishedAt[s * perSensor + f.seq] = at;
      seqOf[s]!++;
    }
    outstanding++;
    client.publish(`${name}/gw-${g}/batch`, Buffer.from(encodeBatch(frames)), { qos: 1 }, () => outstanding--);
    published += frames.length;
  }
  const publishS = (nowMs() - start) / 1000;
  // kcat holds the end of its input until more comes: while waiting for the last frames, uncounted
  // "tail" messages keep input flowing. The bridge gets them too, so both see the same input.
  const tail = Buffer.from(encodeBatch([{ ...frameOf(0), sensorId: 'tail', seq: 0 }]));
  const end = Date.now() + 5000;
  while (delivered < published && Date.now() < end) {
    client.publish(`${name}/gw-0/batch`, tail, { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.endAsync();
  await consumer.disconnect();
  const view = system === 'bridge' ? await bridgeView().catch(() => '') : '';
  await stopSystem(proc);
  await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});

  const sorted = Float64Array.from(latencies).sort();
  const lateSorted = Float64Array.from(lateLatencies).sort();
  const t: Trial = {
    system, offered: framesPerS, published, delivered, framesPerS: Math.round(published / publishS),
    p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p99Last: percentile(lateSorted, 0.99), ok: true,
  };
  // Sustained: the publisher kept the pace, everything arrived, and the latency did not climb.
  if (publishS > trialS * 1.1) t.why = `the publisher only reached ${t.framesPerS} frames/s`;
  else if (delivered < published) t.why = `${published - delivered} of ${published} frames not in Kafka 5 s after the last publish`;
  else if (t.p99Last > 250) t.why = `p99 latency ${t.p99Last.toFixed(0)} ms in the last third (backlog growing)`;
  t.ok = !t.why;
  say(`  ${system.padEnd(8)} ${String(framesPerS).padStart(7)} frames/s offered: ${t.ok ? 'sustained' : `not sustained (${t.why})`}, p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms${view}`);
  return t;
}

const LADDER = [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000, 120_000, 140_000, 160_000, 200_000, 240_000];

/** Up the ladder until a rate is not sustained (EW_BENCH_RATES: those rates only). */
async function climb(system: System): Promise<Trial[]> {
  const fixed = (process.env.EW_BENCH_RATES ?? '').split(',').filter(Boolean).map(Number);
  const trials: Trial[] = [];
  for (const rate of fixed.length ? fixed : LADDER) {
    const t = await trial(system, rate);
    trials.push(t);
    if (!t.ok && !fixed.length) break;
  }
  return trials;
}

/** The figures of one system: most frames/s sustained, the most with p99 ≤ 20 ms, and the latency at 50,000 frames/s. */
function figures(trials: Trial[]) {
  const ok = trials.filter((t) => t.ok);
  const best = ok.at(-1);
  const fast = ok.filter((t) => t.p99 <= 20).at(-1);
  const at50k = trials.find((t) => t.offered === 50_000);
  const r = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(2)));
  return {
    frames_per_s: best?.framesPerS ?? 0,
    p50_ms: r(best?.p50),
    p99_ms: r(best?.p99),
    frames_per_s_p99_under_20ms: fast?.framesPerS ?? 0,
    at_50k: at50k ? { sustained: at50k.ok, p50_ms: r(at50k.p50), p99_ms: r(at50k.p99) } : null,
  };
}

say(`bench/bridge: ${perMessage} frames per MQTT message (QoS 1), 1,000 sensors, ${trialS} s per trial; latency = Kafka LogAppendTime - publish time`);
try {
  const systems = (process.env.EW_BENCH_SYSTEMS ?? 'bridge,baseline').split(',');
  const bridgeTrials = systems.includes('bridge') ? await climb('bridge') : [];
  const baselineTrials = systems.includes('baseline') ? await climb('baseline') : [];
  const br = figures(bridgeTrials);
  const bl = figures(baselineTrials);
  const result = {
    bench: 'bridge',
    frames_per_message: perMessage,
    trial_s: trialS,
    ...br,
    baseline_frames_per_s: bl.frames_per_s,
    baseline_p50_ms: bl.p50_ms,
    baseline_p99_ms: bl.p99_ms,
    baseline_frames_per_s_p99_under_20ms: bl.frames_per_s_p99_under_20ms,
    baseline_at_50k: bl.at_50k,
    ratio: Number((br.frames_per_s / Math.max(1, bl.frames_per_s)).toFixed(2)),
    trials: [...bridgeTrials, ...baselineTrials],
  };
  if (json) console.log(JSON.stringify(result));
  else {
    const f = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(1));
    console.log(`\n${'system'.padEnd(36)} ${'max frames/s'.padStart(13)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'p99<=20ms'.padStart(10)} ${'50k p50'.padStart(8)} ${'50k p99'.padStart(8)}`);
    for (const [label, x] of [['edgewave bridge (acks after Kafka)', br], ['mosquitto_sub | kcat -P (baseline)', bl]] as const) {
      console.log(`${label.padEnd(36)} ${String(x.frames_per_s).padStart(13)} ${f(x.p50_ms).padStart(7)} ${f(x.p99_ms).padStart(7)} ${String(x.frames_per_s_p99_under_20ms).padStart(10)} ${f(x.at_50k?.p50_ms).padStart(8)} ${f(x.at_50k?.p99_ms).padStart(8)}`);
    }
    console.log(`ratio of max frames/s (bridge / baseline): ${result.ratio}`);
  }
} finally {
  await admin.disconnect();
  await stopServers(started.started);
  rmSync(dir, { recursive: true, force: true });
}
