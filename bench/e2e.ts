// The whole distributed pipeline under load, each component its own process as deployed:
//   edge agents (synthetic sensors) → Mosquitto → bridge → Kafka → processor → Kafka → API → WebSocket client
// (the processor also feeds sessions to the MongoDB-wire server).
//
// Measured:
// - latency, from the sample time of a window's last sample (the edge's clock) to the moment this
//   process, a WebSocket client of the API subscribed to every inference, receives it: p50/p95/p99
//   over the windows that arrive in the measurement interval;
// - throughput: samples per second the windows received in that interval stand for;
// - lost and duplicated, after the agents stop cleanly: every frame each agent sent (seq.json) must
//   be once in Kafka's input topic, and every window those frames make once at the client;
// - CPU (share of one core) and peak RSS per component, from /proc.
// - Kafka's age and its JIT compilers' share of a core in the measurement (`kafka`): on servers
//   just started they take a good part of a core for minutes, and the latency is higher for it.
// Everything shares this machine's cores: the agents, Mosquitto, the bridge, Kafka, the processor,
// the API and this client.
//
// Run: npm run bench:e2e -- [--json] [--sensors 1000] [--rate 200] [--mode raw|features]
//        [--seconds 30] [--warmup 10] [--gateways 4] [--flush-ms 50] [--window-flush on|off]
//        [--window-flush-gap-ms 10] [--commit-ms 100] [--partitions 4] [--spread-s 0]
//        [--gateway-phases spread] [--stages]
//        [--processors 1] [--archive on] [--archive-nice 10] [--sessions own] [--sink-servers-nice 19]
//        [--keep-logs]
// --window-flush off: the agents send only every --flush-ms, not also as soon as a window is whole
// (at most one such early batch per --window-flush-gap-ms).
// --spread-s S starts the sensors over S seconds instead of all at once, so their windows end at
// different times, as in a fleet of sensors powered up at different moments. With 0 (the default)
// every sensor of a gateway ends a window at the same instant: the processor gets them as one burst.
// --gateway-phases: when each gateway's sensors end their windows, within one hop (1.28 s at 200 Hz
// with the `uplink` windows). spread (the default): gateway g of G at g/G of it, so the gateways'
// bursts come evenly apart, the average case of independent gateways, the same in every run;
// together: all at the same instant, one burst of every sensor; any: wherever each agent's start
// puts them, as before 2026-12-07, when two gateways' bursts fell within a few ms of each other in
// some runs and not in others (and the p99 with them).
// --processors N runs N processors in one consumer group (the partitions shared between them), as
// a deployment with N replicas; their CPU and RSS are summed under "processor".
// --archive on (the default, as the chart deploys it): the processor also archives every frame to
// S3 as Parquet (the test MinIO, a bucket of the run's own, removed at the end), in a child process
// (`archive.runIn: process`); thread: in a worker thread; inline: on the processor's own thread;
// off: no archive, as the benchmark ran before 2026-12-06. --archive-nice: its `archive.nice` (the
// processor's default, 10).
// --sessions own (the default) starts each component in a session of its own, as a service manager
// starts services (each its own session and, with systemd, its own cgroup); shared keeps them in
// this process's session, as the benchmark ran before 2026-12-06 (late morning). Where Linux shares the CPU between sessions (autogroup, on unless the
// processes are in a CPU cgroup), that decides the shares: in one session the agents, the bridge,
// the processor, the API and this client together weigh as much as Kafka or the MongoDB-wire
// server alone.
// --sink-servers-nice N: the MongoDB-wire and S3 servers' CPU share in the run (19, the least, by
// default; 0 leaves them as started), below.
// --stages also reads the input topic, for the latency up to Kafka (it costs this process CPU).
// --keep-logs keeps the components' logs and writes windows.csv beside them: per window measured,
// its sensor, seq, last sample's time and arrival at the client, when the processor sent its
// inference and, with --stages, when the bridge sent and a reader got the frame holding its last
// sample (ms since the epoch, this machine's clock); each burst's slow hop can be read from it.
// It also writes cpu.csv: every 50 ms, the CPU ms each component used in it (edge agents summed,
// Kafka's collector and JIT compiler threads also apart), to see who had the cores in a slow burst
// (reading /proc that often costs this process about 0.04 of a core).
// Each component runs with the node options the chart gives it (helm/edgewave/values.yaml).
// EW_BENCH_E2E_LOG_<COMPONENT>=debug (PROCESSOR, BRIDGE, API, EDGE) sets that component's log level:
// with --keep-logs the processor's log then has each batch's age, queueing, inference, processing,
// send and commit times, and each transaction's snapshot and commit steps.
// The servers come from scripts/servers (started here, or the ones npm run servers -- start runs).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import WebSocket from 'ws';
import { inferenceLines } from '../cloud/processor/records.js';
import { decodeRecord, FLAG_GAP, isTick } from '../protocol/index.js';
import { startServers, stopServers, type RunningServer } from '../scripts/servers/index.js';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { alive, SERVERS_STATE } from '../scripts/servers/paths.js';
import { freePort } from '../scripts/servers/process.js';
import { readRecords } from '../test/e2e/harness.js';
import { FEATURE_PRESETS } from '../dsp/src/config.js';
import { nodeArgsFor } from './node-args.js';
import { autogroupNice, cpuSeconds, procAgeS, procChildren, procSession, procUsage, readStat, setAutogroupNice } from './proc.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    sensors: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '200' },
    mode: { type: 'string', default: 'raw' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '10' },
    gateways: { type: 'string', default: '4' },
    'flush-ms': { type: 'string', default: '50' },
    'window-flush': { type: 'string', default: 'on' },
    'window-flush-gap-ms': { type: 'string', default: '10' },
    'commit-ms': { type: 'string', default: '100' },
    partitions: { type: 'string', default: '4' },
    processors: { type: 'string', default: '1' },
    'spread-s': { type: 'string', default: '0' },
    'gateway-phases': { type: 'string', default: 'spread' },
    'keep-logs': { type: 'boolean', default: false },
    stages: { type: 'boolean', default: false },
    archive: { type: 'string', default: 'on' },
    sessions: { type: 'string', default: 'own' },
    'sink-servers-nice': { type: 'string', default: '19' },
    'archive-nice': { type: 'string', default: '10' },
  },
});
const int = (name: keyof typeof args, min: number, max: number): number => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`bench:e2e: --${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(args[name])})`);
    process.exit(2);
  }
  return v;
};
const SENSORS = int('sensors', 1, 100_000);
const RATE = int('rate', 1, 4000);
const SECONDS = int('seconds', 1, 3600);
const WARMUP = int('warmup', 0, 600);
const GATEWAYS = Math.min(int('gateways', 1, 64), SENSORS);
const FLUSH_MS = int('flush-ms', 5, 10_000);
const COMMIT_MS = int('commit-ms', 0, 10_000);
const PARTITIONS = int('partitions', 1, 64);
const PROCESSORS = int('processors', 1, 16);
const SINK_NICE = int('sink-servers-nice', 0, 19);
const ARCHIVE_NICE = int('archive-nice', 0, 19);
const SPREAD_S = Number(args['spread-s']);
const PHASES = args['gateway-phases'];
if (PHASES !== 'spread' && PHASES !== 'together' && PHASES !== 'any') {
  console.error(`bench:e2e: --gateway-phases must be spread, together or any (got ${JSON.stringify(PHASES)})`);
  process.exit(2);
}
// One hop of the windows both the agents (windowFlush) and the processor cut: the `uplink` preset's.
const HOP_MS = Math.round((FEATURE_PRESETS.uplink.hop * 1000) / RATE);
const phaseOf = (g: number): { everyMs: number; atMs: number } | undefined =>
  PHASES === 'any' ? undefined : { everyMs: HOP_MS, atMs: PHASES === 'together' ? 0 : Math.round((g * HOP_MS) / GATEWAYS) % HOP_MS };
if (!(SPREAD_S >= 0 && SPREAD_S <= 3600)) {
  console.error(`bench:e2e: --spread-s must be a number of seconds from 0 to 3600 (got ${JSON.stringify(args['spread-s'])})`);
  process.exit(2);
}
const WINDOW_FLUSH = args['window-flush'];
if (WINDOW_FLUSH !== 'on' && WINDOW_FLUSH !== 'off') {
  console.error(`bench:e2e: --window-flush must be on or off (got ${JSON.stringify(WINDOW_FLUSH)})`);
  process.exit(2);
}
const WINDOW_FLUSH_GAP_MS = int('window-flush-gap-ms', 0, 1000);
const SESSIONS = args.sessions;
if (SESSIONS !== 'own' && SESSIONS !== 'shared') {
  process.stderr.write(`bench:e2e: --sessions must be own or shared, not ${JSON.stringify(SESSIONS)}\n`);
  process.exit(2);
}
const ARCHIVE = args.archive;
if (ARCHIVE !== 'on' && ARCHIVE !== 'off' && ARCHIVE !== 'inline' && ARCHIVE !== 'thread') {
  console.error(`bench:e2e: --archive must be on, thread, inline or off (got ${JSON.stringify(ARCHIVE)})`);
  process.exit(2);
}
const MODE = args.mode;
if (MODE !== 'raw' && MODE !== 'features') {
  console.error(`bench:e2e: --mode must be raw or features (got ${JSON.stringify(MODE)})`);
  process.exit(2);
}
const json = args.json;
const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
const root = new URL('..', import.meta.url).pathname;
const run = `bench-e2e-${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-bench-e2e-'));
const logDir = join(root, '.run', 'bench-e2e');
mkdirSync(logDir, { recursive: true });

// The uplink preset: windows of 256 samples every 256 (dsp/ presets).
const WINDOW = 256;
const HOP = 256;

interface Component {
  name: string;
  proc: ChildProcess;
  log: string;
  nodeArgs: string[];
}
const components: Component[] = [];
// Components in sessions of their own (--sessions own) do not get a terminal's Ctrl-C: this process
// stops them, and whatever is left when it exits goes with it.
const killLeft = () => {
  for (const c of components) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
};
process.once('exit', killLeft);
if (SESSIONS === 'own') {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killLeft();
      process.exit(130);
    });
  }
}

function launch(name: string, component: string, config: unknown): Component {
  const file = join(dir, `${name}.json`);
  // EW_BENCH_E2E_LOG_<COMPONENT> (the header above).
  const level = process.env[`EW_BENCH_E2E_LOG_${component.toUpperCase()}`];
  writeFileSync(file, JSON.stringify(level ? { ...(config as object), logLevel: level } : config));
  const log = join(logDir, `${name}.log`);
  // Node options as the chart gives them (helm/edgewave/values.yaml, <component>.nodeArgs), or
  // EW_BENCH_E2E_NODE_ARGS_<COMPONENT> in their place (e.g. _PROCESSOR="--cpu-prof"; empty: none).
  const nodeArgs = nodeArgsFor(component as 'bridge' | 'processor' | 'api', process.env[`EW_BENCH_E2E_NODE_ARGS_${component.toUpperCase()}`]);
  const proc = spawn(process.execPath, [...nodeArgs, join(root, 'bin/edgewave.js'), component, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], detached: SESSIONS === 'own' });
  const chunks: Buffer[] = [];
  proc.stdout!.on('data', (d: Buffer) => chunks.push(d));
  proc.stderr!.on('data', (d: Buffer) => chunks.push(d));
  proc.once('exit', () => writeFileSync(log, Buffer.concat(chunks)));
  const c = { name, proc, log, nodeArgs };
  components.push(c);
  return c;
}

async function waitReady(c: Component, port: number, path: string): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    if (c.proc.exitCode !== null) throw new Error(`${c.name} exited with ${c.proc.exitCode} before it was ready (log: ${c.log})`);
    if ((await fetch(`http://127.0.0.1:${port}${path}`).catch(() => null))?.ok) return;
    if (Date.now() > end) throw new Error(`${c.name} not ready on :${port}${path} within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopComponent(c: Component, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return c.proc.exitCode;
  const exited = new Promise<number | null>((r) => c.proc.once('exit', (code) => r(code)));
  c.proc.kill(signal);
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** user + system CPU seconds of a process so far, and its resident set in MB (zeros once it is gone). */
function usage(pid: number): { cpuS: number; rssMb: number } {
  try {
    return procUsage(pid);
  } catch {
    return { cpuS: 0, rssMb: 0 };
  }
}

/** A JVM's CPU ms so far in its collector's threads (`gc`) and its JIT compilers' (`jit`). */
function javaThreadsMs(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const { name, fields } = readStat(`/proc/${pid}/task/${tid}/stat`);
      const kind = /^(Z[A-Z]|G1 |GC |VM Thread)/.test(name) ? 'gc' : /CompilerThre/.test(name) ? 'jit' : undefined;
      if (kind) m.set(kind, (m.get(kind) ?? 0) + cpuSeconds(fields) * 1000);
    }
  } catch {
    // The process or a thread is gone.
  }
  return m;
}

/** Seconds since a process started (NaN once it is gone). */
function ageS(pid: number): number {
  try {
    return procAgeS(pid);
  } catch {
    return NaN;
  }
}

const percentile = (sorted: Float64Array, p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);

// Servers that npm run servers -- start keeps running are used as they are (warm); the others are
// started here, and stopped at the end.
const NEEDED = ['kafka', 'mosquitto', 'ferretdb', ...(ARCHIVE !== 'off' ? ['minio' as const] : [])] as const;
// Where `npm run servers` keeps its state (EW_RUN_DIR, as the CLI reads it): a second checkout run
// as a baseline points it at the first one's `.run`, or starts servers of its own.
const stateFile = SERVERS_STATE;
const running = (existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { servers: { name: string; pid: number; env: Record<string, string> }[] }).servers : [])
  .filter((s) => (NEEDED as readonly string[]).includes(s.name) && alive(s.pid));
const started = await startServers(NEEDED.filter((n) => !running.some((s) => s.name === n)));
const servers: RunningServer[] = started.started;
if (started.failed.length) {
  await stopServers(servers);
  throw new Error(`servers did not start: ${started.failed.map((f) => `${f.name}: ${f.error.message}`).join('; ')} (run npm run servers:install)`);
}
const serverPids = [...running, ...servers].map((s) => ({ name: s.name, pid: s.pid }));
if (running.length) say(`using the running ${running.map((s) => s.name).join(', ')} (.run/servers.json)`);
// The MongoDB-wire and S3 servers take the session documents and the archive's objects: off the way
// of every window to the client, and in a deployment on machines of their own. Here they share the
// two cores with the latency path, so they get the least share of the CPU (--sink-servers-nice,
// 19; 0 leaves them as they are): they still have every moment no one else wants. A server alone in its session (as `npm run servers -- start` runs them) is
// set through its autogroup, the kernel's CPU share per session, and put back at the end; one in this
// process's session (started by this run, stopped with it) gets the nice value on each thread.
const sinkNice: Record<string, { nice: number; via: 'autogroup' | 'threads' | 'not set' }> = {};
const restoreNice: (() => void)[] = [];
process.once('exit', () => {
  for (const restore of restoreNice.splice(0)) restore();
});
if (SINK_NICE > 0) {
  for (const s of serverPids.filter((s) => s.name === 'ferretdb' || s.name === 'minio')) {
    const before = autogroupNice(s.pid);
    if (before !== undefined && procSession(s.pid) !== procSession('self')) {
      if (setAutogroupNice(s.pid, SINK_NICE)) {
        sinkNice[s.name] = { nice: SINK_NICE, via: 'autogroup' };
        restoreNice.push(() => void setAutogroupNice(s.pid, before));
        continue;
      }
    } else {
      try {
        for (const tid of readdirSync(`/proc/${s.pid}/task`)) setPriority(Number(tid), SINK_NICE);
        sinkNice[s.name] = { nice: SINK_NICE, via: 'threads' };
        continue;
      } catch {
        // below
      }
    }
    sinkNice[s.name] = { nice: 0, via: 'not set' };
    say(`bench:e2e: the ${s.name} server's CPU share could not be lowered; it runs as it is`);
  }
}
const env = Object.assign({}, ...running.map((s) => s.env), ...servers.map((s) => s.env)) as Record<string, string>;
const brokers = [env.EW_KAFKA_BROKERS!];
const kafka = new Kafka({ clientId: 'bench-e2e', brokers, logLevel: logLevel.NOTHING });
const topics = {
  raw: `${run}.raw`, features: `${run}.features`, status: `${run}.status`, inferences: `${run}.inferences`,
  sessions: `${run}.sessions`, deadletter: `${run}.deadletter`, processorState: `${run}.state`,
};
const topicRoot = `ew-${run}`;
// The archive as the chart deploys it (its flush size and age the defaults): every frame to S3 as
// Parquet, in a bucket of the run's own, emptied and removed at the end.
const s3 = { endpoint: env.EW_S3_ENDPOINT!, region: env.EW_S3_REGION ?? 'us-east-1', accessKeyId: env.EW_S3_ACCESS_KEY_ID!, secretAccessKey: env.EW_S3_SECRET_ACCESS_KEY! };
const s3Client = ARCHIVE !== 'off' ? new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }) : null;
/** The run's archive objects (key and size). */
async function archiveObjects(): Promise<{ key: string; size: number }[]> {
  const all: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3Client!.send(new ListObjectsV2Command({ Bucket: run, ContinuationToken: token }));
    for (const o of page.Contents ?? []) all.push({ key: o.Key!, size: o.Size ?? 0 });
    token = page.NextContinuationToken;
  } while (token);
  return all;
}

try {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: Object.entries(topics).map(([k, topic]) => ({ topic, numPartitions: PARTITIONS, ...(k === 'processorState' ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}) })),
    waitForLeaders: true,
  });
  await admin.disconnect();
  say(`bench:e2e: ${SENSORS} sensors x ${RATE} Hz, ${MODE}, on ${GATEWAYS} gateways; agent flush ${FLUSH_MS} ms, ${PROCESSORS > 1 ? `${PROCESSORS} processors, ` : ''}processor commit interval ${COMMIT_MS} ms, ${ARCHIVE === 'off' ? 'no archive, ' : `archive to S3${ARCHIVE === 'inline' ? " on the processor's thread" : ARCHIVE === 'thread' ? ' on a thread of its own' : ' in a process of its own'}, `}${PARTITIONS} partitions, ${SESSIONS === 'own' ? 'each component in a session of its own' : 'the components in this session'}${SPREAD_S ? `; sensors started over ${SPREAD_S} s` : '; each gateway\'s sensors started together'}${PHASES === 'any' ? ', the gateways whenever their agents start' : PHASES === 'together' ? ', every gateway at the same instant' : `, the gateways ${Math.round(HOP_MS / GATEWAYS)} ms apart`}; MongoDB-wire and S3 servers at nice ${SINK_NICE}; warm-up ${WARMUP} s, measured ${SECONDS} s`);

  // The cloud tier.
  const [bridgePort, apiPort] = await Promise.all([freePort(), freePort()]);
  const processorPorts = await Promise.all(Array.from({ length: PROCESSORS }, () => freePort()));
  const database = run.replace(/-/g, '_');
  if (s3Client) await s3Client.send(new CreateBucketCommand({ Bucket: run }));
  const processors = processorPorts.map((port, k) => launch(PROCESSORS > 1 ? `processor-${k}` : 'processor', 'processor', {
    kafka: { brokers, topics: { raw: topics.raw, features: topics.features, inferences: topics.inferences, sessions: topics.sessions, deadletter: topics.deadletter, processorState: topics.processorState }, groupId: `${run}-processor`, transactionalIdPrefix: `${run}-processor`, commitIntervalMs: COMMIT_MS },
    mongodb: { url: env.EW_MONGODB_URL, database },
    ...(ARCHIVE !== 'off' ? { s3, archive: { url: `s3://${run}/archive`, runIn: ARCHIVE === 'on' ? 'process' : ARCHIVE === 'thread' ? 'thread' : 'inline', nice: ARCHIVE_NICE } } : {}),
    http: { port },
    logLevel: 'warn',
  }));
  const api = launch('api', 'api', {
    http: { port: apiPort },
    mongodb: { url: env.EW_MONGODB_URL, database },
    kafka: { brokers, topics: { inferences: topics.inferences, sessions: topics.sessions, status: topics.status }, groupPrefix: `${run}-api` },
    auth: { open: true },
    live: { lookbackS: 0 },
    logLevel: 'warn',
  });
  const bridge = launch('bridge', 'bridge', {
    mqtt: { url: env.EW_MQTT_URL, clientId: `${run}-bridge`, shareGroup: null, topicRoot },
    kafka: { brokers, topics: { raw: topics.raw, features: topics.features, status: topics.status, deadletter: topics.deadletter } },
    http: { port: bridgePort },
    logLevel: 'warn',
  });
  await Promise.all([...processors.map((c, k) => waitReady(c, processorPorts[k]!, '/ready')), waitReady(api, apiPort, '/health'), waitReady(bridge, bridgePort, '/ready')]);

  // The client: every inference, with its arrival time.
  type Seen = { sensorId: string; seq: number; t1: number; at: number };
  const seen: Seen[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${apiPort}/ws`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let dropped = 0;
  let subscribed = false;
  ws.on('message', (b) => {
    const at = Date.now();
    const m = JSON.parse(b.toString()) as { type: string; count?: number; data: { sensorId: string; seq: number; t1: number } };
    if (m.type === 'inferences') seen.push({ sensorId: m.data.sensorId, seq: m.data.seq, t1: m.data.t1, at });
    else if (m.type === 'subscribed') subscribed = true;
    else if (m.type === 'dropped') dropped += m.count ?? 0;
  });
  ws.send(JSON.stringify({ op: 'subscribe', kinds: ['inferences'] }));
  for (let i = 0; !subscribed; i++) {
    if (i > 100) throw new Error('no answer to the WebSocket subscription');
    await new Promise((r) => setTimeout(r, 100));
  }

  // Two more vantage points on the way, for where the time goes: a reader of the input topic (a
  // record's newest sample → the record in Kafka) and a read_committed reader of the inference topic
  // (a window's last sample → its committed inference).
  let stageOn = false;
  const stageInput: number[] = [];
  const stageInference: number[] = [];
  // The records' own timestamps (each producer's clock at its send, this machine's clock too): when
  // the bridge sent a frame on, when the processor sent a window's inference.
  const stageBridgeSent: number[] = [];
  const stageProcessorSent: number[] = [];
  const T1 = /"t1":(\d+)/;
  const SENSOR = /"sensorId":"([^"]*)"/;
  // With --keep-logs, each window's times on the way, for windows.csv: when the processor sent its
  // inference (by sensor and t1) and, with --stages, when the bridge sent and a reader got the
  // frames of each sensor (their newest sample's time, µs).
  const keep = args['keep-logs'] === true;
  const sentAt = new Map<string, number>();
  const framesAt = new Map<string, [newestUs: number, bridgeSent: number, read: number][]>();
  const inputReader = kafka.consumer({ groupId: `${run}-stage-input`, maxWaitTimeInMs: 20 });
  const inferenceReader = kafka.consumer({ groupId: `${run}-stage-inference`, readUncommitted: false, maxWaitTimeInMs: 20 });
  await Promise.all([inputReader.connect(), inferenceReader.connect()]);
  // Decoding every input frame costs this process about a quarter of a core at 1,000 raw sensors,
  // taken from the pipeline on a small machine: only with --stages.
  await inputReader.subscribe({ topic: args.stages ? (MODE === 'raw' ? topics.raw : topics.features) : topics.status, fromBeginning: false });
  await inferenceReader.subscribe({ topic: topics.inferences, fromBeginning: false });
  await inputReader.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      if (!stageOn) return;
      for (const m of batch.messages) {
        if (isTick(m.headers)) continue;
        const u = new Uint8Array(m.value!.buffer, m.value!.byteOffset, m.value!.byteLength);
        const fs = decodeRecord(u, { maxFutureMs: Infinity });
        let newest = 0;
        for (const f of fs) newest = Math.max(newest, f.t0 + ((f.kind === 'raw' ? f.count - 1 : f.window - 1 + (f.count - 1) * f.hop) * 1e6) / f.sampleRate);
        stageInput.push(now - newest / 1000);
        stageBridgeSent.push(Number(m.timestamp) - newest / 1000);
        if (keep) for (const f of fs) {
          const fNewest = f.t0 + ((f.kind === 'raw' ? f.count - 1 : f.window - 1 + (f.count - 1) * f.hop) * 1e6) / f.sampleRate;
          let list = framesAt.get(f.sensorId);
          if (!list) framesAt.set(f.sensorId, (list = []));
          list.push([fNewest, Number(m.timestamp), now]);
        }
      }
    },
  });
  await inferenceReader.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      if (!stageOn) return;
      for (const m of batch.messages) {
        const sent = Number(m.timestamp);
        for (const line of inferenceLines(m.value!.toString())) {
          const t1 = Number(T1.exec(line)![1]);
          const last = (t1 - 1e6 / RATE) / 1000;
          stageInference.push(now - last);
          stageProcessorSent.push(sent - last);
          if (keep) sentAt.set(`${SENSOR.exec(line)?.[1]}/${t1}`, sent);
        }
      }
    },
  });

  // The gateways.
  const agents: { c: Component; dataDir: string }[] = [];
  for (let g = 0; g < GATEWAYS; g++) {
    const port = await freePort();
    const dataDir = join(dir, `gw${g}`);
    const sensors = Math.floor(SENSORS / GATEWAYS) + (g < SENSORS % GATEWAYS ? 1 : 0);
    const c = launch(`edge-${g}`, 'edge', {
      gatewayId: `gw${g}`,
      dataDir,
      mqtt: { url: env.EW_MQTT_URL, topicRoot, clientId: `${run}-gw${g}` },
      outbox: { fsync: 'interval' },
      flushMs: FLUSH_MS,
      windowFlush: WINDOW_FLUSH === 'on',
      windowFlushGapMs: WINDOW_FLUSH_GAP_MS,
      sources: [{ type: 'synthetic', sensors, rate: RATE, groups: 5, seed: g + 1, startSpreadS: SPREAD_S, startPhase: phaseOf(g) }],
      groups: { default: { mode: MODE, decimate: 1 } },
      http: { port },
      logLevel: 'warn',
    });
    agents.push({ c, dataDir });
    await waitReady(c, port, '/health');
  }
  say(`${components.length} components running; warming up ${WARMUP} s`);
  await new Promise((r) => setTimeout(r, WARMUP * 1000));

  // The measurement.
  const byName = (c: Component) => (c.name.startsWith('edge-') ? 'edge' : c.name.startsWith('processor-') ? 'processor' : c.name);
  // The archive's own process (archive.runIn: process), a child of each processor: its CPU and RSS apart.
  const archivePids = components.filter((c) => byName(c) === 'processor').flatMap((c) => procChildren(c.proc.pid!));
  const tracked = [
    ...components.map((c) => ({ name: byName(c), pid: c.proc.pid! })),
    ...archivePids.map((pid) => ({ name: 'archive', pid })),
    ...serverPids,
    { name: 'client', pid: process.pid },
  ];
  const before = tracked.map((t) => usage(t.pid));
  // Kafka's JIT compilers take a share of the cores for minutes after it starts: reported, so a
  // run on servers just started can be told from one on warm servers.
  const kafkaPid = serverPids.find((s) => s.name === 'kafka')?.pid;
  const jitBefore = kafkaPid ? (javaThreadsMs(kafkaPid).get('jit') ?? 0) : 0;
  const peak = new Map<string, number>();
  const from = seen.length;
  stageOn = true;
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const now = new Map<string, number>();
    for (const t of tracked) now.set(t.name, (now.get(t.name) ?? 0) + usage(t.pid).rssMb);
    for (const [n, mb] of now) peak.set(n, Math.max(peak.get(n) ?? 0, mb));
  }, 500);
  // With --keep-logs, each component's CPU every 50 ms (Kafka's collector and compiler threads apart).
  const timeline: string[] = [];
  const columns = [...new Set(tracked.map((t) => t.name)), ...(tracked.some((t) => t.name === 'kafka') ? ['kafka.gc', 'kafka.jit'] : [])];
  const ticks = () => {
    const m = new Map<string, number>();
    for (const t of tracked) {
      m.set(t.name, (m.get(t.name) ?? 0) + usage(t.pid).cpuS * 1000);
      if (t.name === 'kafka') for (const [k, v] of javaThreadsMs(t.pid)) m.set(`kafka.${k}`, (m.get(`kafka.${k}`) ?? 0) + v);
    }
    return m;
  };
  let last = keep ? ticks() : new Map<string, number>();
  const cpuSampler = keep
    ? setInterval(() => {
        const now = ticks();
        timeline.push([Date.now(), ...columns.map((c) => Math.round((now.get(c) ?? 0) - (last.get(c) ?? 0)))].join(','));
        last = now;
      }, 50)
    : undefined;
  for (let s = 0; s < SECONDS; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    if (!json && (s + 1) % 10 === 0) say(`  ${s + 1} s: ${seen.length - from} windows received`);
    for (const c of components) if (c.proc.exitCode !== null) throw new Error(`${c.name} exited with ${c.proc.exitCode} (log: ${c.log})`);
  }
  clearInterval(sampler);
  clearInterval(cpuSampler);
  if (keep) writeFileSync(join(logDir, 'cpu.csv'), `t_ms,${columns.map((c) => `${c}_cpu_ms`).join(',')}\n${timeline.join('\n')}\n`);
  stageOn = false;
  await Promise.all([inputReader.disconnect(), inferenceReader.disconnect()]);
  const seconds = (performance.now() - t0) / 1000;
  const measured = seen.slice(from);
  const cpu = new Map<string, number>();
  tracked.forEach((t, i) => cpu.set(t.name, (cpu.get(t.name) ?? 0) + (usage(t.pid).cpuS - before[i]!.cpuS) / seconds));
  const kafkaServer = kafkaPid ? { uptime_s: ageS(kafkaPid), jit_cpu: Number((((javaThreadsMs(kafkaPid).get('jit') ?? 0) - jitBefore) / 1000 / seconds).toFixed(3)) } : undefined;
  const perStep = 1e6 / RATE;
  const latencies = Float64Array.from(measured, (x) => x.at - (x.t1 - perStep) / 1000).sort();
  // With --keep-logs, every window measured: when its last sample was taken and when it arrived.
  // (the processor's send and, with --stages, the bridge's send of the frame holding the last
  // sample and a reader's getting it; empty where not seen).
  if (keep) {
    const frameOf = (x: Seen) => framesAt.get(x.sensorId)?.find((f) => f[0] >= x.t1 - perStep);
    const line = (x: Seen) => {
      const f = frameOf(x);
      return `${x.sensorId},${x.seq},${((x.t1 - perStep) / 1000).toFixed(1)},${x.at},${sentAt.get(`${x.sensorId}/${x.t1}`) ?? ''},${f?.[1] ?? ''},${f?.[2] ?? ''}`;
    };
    writeFileSync(join(logDir, 'windows.csv'), `sensor,seq,last_sample_ms,arrived_ms,processor_sent_ms,bridge_sent_ms,input_read_ms\n${measured.map(line).join('\n')}\n`);
  }

  // The agents stop cleanly: what they accepted is delivered, and seq.json holds each sensor's count.
  say('stopping the agents; accounting');
  const sent = new Map<string, number>();
  for (const a of agents) {
    const code = await stopComponent(a.c);
    if (code !== 0) throw new Error(`${a.c.name} exited with ${code} (log: ${a.c.log})`);
    const file = join(a.dataDir, 'seq.json');
    if (existsSync(file)) for (const [id, n] of Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>)) sent.set(id, n);
  }

  // Every frame of the input topic, to the end (the bridge has acknowledged everything it wrote).
  const inputTopic = MODE === 'raw' ? topics.raw : topics.features;
  await waitIdle(() => seen.length, 3000, 120_000);
  const frames = (await readRecords(kafka, inputTopic, `${run}-account`)).flat();
  const framesSeen = new Map<string, Set<number>>();
  let frameCopies = 0;
  let gaps = 0;
  const samples = new Map<string, number>();
  const expectedWindows = new Map<string, number>();
  for (const f of frames) {
    let s = framesSeen.get(f.sensorId);
    if (!s) framesSeen.set(f.sensorId, (s = new Set()));
    if (s.has(f.seq)) {
      frameCopies++;
      continue;
    }
    s.add(f.seq);
    if (f.flags & FLAG_GAP) gaps++;
    if (f.kind === 'raw') samples.set(f.sensorId, (samples.get(f.sensorId) ?? 0) + f.count);
    else expectedWindows.set(f.sensorId, (expectedWindows.get(f.sensorId) ?? 0) + f.count);
  }
  let framesLost = 0;
  for (const [id, n] of sent) {
    const got = framesSeen.get(id);
    for (let q = 0; q < n; q++) if (!got?.has(q)) framesLost++;
  }
  if (MODE === 'raw') for (const [id, n] of samples) expectedWindows.set(id, n >= WINDOW ? Math.floor((n - WINDOW) / HOP) + 1 : 0);
  const windowsSeen = new Map<string, Map<number, number>>();
  for (const x of seen) {
    let m = windowsSeen.get(x.sensorId);
    if (!m) windowsSeen.set(x.sensorId, (m = new Map()));
    m.set(x.t1, (m.get(x.t1) ?? 0) + 1);
  }
  let windowsLost = 0;
  let windowsDuplicated = 0;
  let windowsExpected = 0;
  for (const [id, n] of expectedWindows) {
    windowsExpected += n;
    const m = windowsSeen.get(id);
    windowsLost += Math.max(0, n - (m?.size ?? 0));
  }
  for (const m of windowsSeen.values()) for (const k of m.values()) windowsDuplicated += k - 1;
  const framesSent = [...sent.values()].reduce((a, b) => a + b, 0);

  const archived = s3Client ? await archiveObjects() : null;
  const result = {
    sensors: SENSORS,
    rate_hz: RATE,
    mode: MODE,
    flush_ms: FLUSH_MS,
    window_flush: WINDOW_FLUSH === 'on',
    window_flush_gap_ms: WINDOW_FLUSH_GAP_MS,
    commit_ms: COMMIT_MS,
    processors: PROCESSORS,
    spread_s: SPREAD_S,
    gateway_phases: PHASES,
    // The S3 archive in the processor (in a process of its own unless --archive says otherwise), as deployed: objects and MB written by the end of the measurement.
    sessions: SESSIONS,
    // The MongoDB-wire and S3 servers' nice value in the run, and how it was set.
    sink_servers_nice: sinkNice,
    archive: archived ? { run_in: ARCHIVE === 'on' ? 'process' : ARCHIVE, nice: ARCHIVE_NICE, objects: archived.length, mb: Number((archived.reduce((a, o) => a + o.size, 0) / 1e6).toFixed(1)) } : null,
    seconds: Number(seconds.toFixed(1)),
    windows: measured.length,
    p50_ms: Math.round(percentile(latencies, 0.5)),
    p95_ms: Math.round(percentile(latencies, 0.95)),
    p99_ms: Math.round(percentile(latencies, 0.99)),
    max_ms: Math.round(latencies[latencies.length - 1] ?? NaN),
    // The same latency at points on the way: when the bridge sent a record on (--stages), when a
    // reader of the input topic got it (--stages), when the processor sent the inference, when a
    // read_committed reader got it.
    stages: {
      ...(args.stages ? { bridge_sent: quantiles(stageBridgeSent), input_topic: quantiles(stageInput) } : {}),
      processor_sent: quantiles(stageProcessorSent),
      inference_topic: quantiles(stageInference),
      client: quantiles(Array.from(latencies)),
    },
    samples_per_s: Math.round((measured.length * HOP) / seconds),
    offered_samples_per_s: SENSORS * RATE,
    frames_sent: framesSent,
    frames_lost: framesLost,
    frames_duplicated: frameCopies,
    windows_expected: windowsExpected,
    lost: framesLost + windowsLost,
    duplicated: frameCopies + windowsDuplicated,
    gap_frames: gaps,
    ws_dropped: dropped,
    cpu: Object.fromEntries([...cpu].map(([k, v]) => [k, Number(v.toFixed(2))])),
    node_args: Object.fromEntries(components.filter((c) => c.nodeArgs.length).map((c) => [byName(c), c.nodeArgs.join(' ')])),
    cpu_total: Number([...cpu.values()].reduce((a, b) => a + b, 0).toFixed(2)),
    rss_mb: Object.fromEntries([...peak].map(([k, v]) => [k, Math.round(v)])),
    // How long Kafka had been up at the end, and the share of a core its JIT compilers took in the measurement.
    ...(kafkaServer ? { kafka: kafkaServer } : {}),
  };
  ws.close();
  if (json) console.log(JSON.stringify(result));
  else {
    say('');
    say(`latency, last sample → WebSocket client: p50 ${result.p50_ms} ms, p95 ${result.p95_ms} ms, p99 ${result.p99_ms} ms, max ${result.max_ms} ms (${result.windows} windows in ${result.seconds} s)`);
    const st = result.stages;
    say(`  on the way, p50/p95/p99 ms: ${st.bridge_sent ? `sent on by the bridge ${fmt(st.bridge_sent)}; ` : ''}${st.input_topic ? `read from the ${MODE} topic ${fmt(st.input_topic)}; ` : ''}inference sent by the processor ${fmt(st.processor_sent)}; committed inference read ${fmt(st.inference_topic)}; at the client ${fmt(st.client)}`);
    say(`throughput: ${result.samples_per_s} samples/s of ${result.offered_samples_per_s} offered`);
    say(`accounting: ${framesSent} frames sent, ${framesLost} lost and ${frameCopies} doubled in Kafka; ${windowsExpected} windows expected, ${windowsLost} lost and ${windowsDuplicated} doubled at the client`);
    say(`${'component'.padEnd(12)} ${'cpu (cores)'.padStart(12)} ${'peak RSS MB'.padStart(12)}`);
    for (const [k, v] of cpu) say(`${k.padEnd(12)} ${v.toFixed(2).padStart(12)} ${String(result.rss_mb[k] ?? '').padStart(12)}`);
    say(`${'total'.padEnd(12)} ${result.cpu_total.toFixed(2).padStart(12)}`);
    if (kafkaServer) {
      const warming = kafkaServer.jit_cpu >= 0.02 ? ': still warming up, so later runs on these servers will be faster (npm run servers -- start keeps them running)' : '';
      say(`Kafka up ${kafkaServer.uptime_s} s; its JIT compilers took ${kafkaServer.jit_cpu.toFixed(2)} of a core in the measurement${warming}`);
    }
  }
} finally {
  await Promise.all(components.map((c) => stopComponent(c)));
  for (const restore of restoreNice.splice(0)) restore();
  // The run's topics go with it: on servers kept running, runs would otherwise pile up partitions
  // (and the broker's memory and work) that later runs pay for.
  if (running.some((s) => s.name === 'kafka')) {
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteTopics({ topics: Object.values(topics) })).catch((err: unknown) => say(`bench:e2e: the run's topics were not deleted: ${(err as Error).message}`));
    await admin.disconnect().catch(() => {});
  }
  if (s3Client) {
    try {
      const objects = await archiveObjects();
      for (let i = 0; i < objects.length; i += 1000) await s3Client.send(new DeleteObjectsCommand({ Bucket: run, Delete: { Objects: objects.slice(i, i + 1000).map((o) => ({ Key: o.key })) } }));
      await s3Client.send(new DeleteBucketCommand({ Bucket: run }));
    } catch (err) {
      say(`bench:e2e: the run's archive bucket ${run} was not removed: ${(err as Error).message}`);
    }
    s3Client.destroy();
  }
  await stopServers(servers);
  if (!args['keep-logs']) rmSync(dir, { recursive: true, force: true });
}

function quantiles(xs: number[]): { p50: number; p95: number; p99: number } {
  const sorted = Float64Array.from(xs).sort();
  return { p50: Math.round(percentile(sorted, 0.5)), p95: Math.round(percentile(sorted, 0.95)), p99: Math.round(percentile(sorted, 0.99)) };
}
function fmt(q: { p50: number; p95: number; p99: number }): string {
  return `${q.p50}/${q.p95}/${q.p99}`;
}

/** Waits until `count` has not moved for `quietMs` (or `maxMs` passed). */
async function waitIdle(count: () => number, quietMs: number, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < end) {
    const n = count();
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}
