// The quick-start job until embedded mode exists: simulated gateways publish protocol/ batch frames
// over MQTT QoS 1 to an in-process broker (aedes); a subscriber decodes every batch, checks each
// sensor's sequence for loss and duplicates, runs dsp.wasm over every batch in one call, and
// reports throughput, sizes, latency and activity live.

import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';
import {
  EdgewaveError,
  LAYOUT_IMU6,
  decodeBatch,
  encodeBatch,
  encodeJsonFrame,
  mqttTopics,
  parseConfig,
  type DeepReadonly,
  type Frame,
} from '../protocol/index.js';
import { ROW_STATS_WIDTH, loadDsp } from '../dsp/src/index.js';
import { EdgeError } from './errors.js';
import { ImuSignal, type Activity } from './imu-signal.js';

export const demoConfigSchema = z.strictObject({
  sensors: z.number().int().min(1).max(10_000).default(12).describe('number of simulated sensors, 1-10000'),
  gateways: z.number().int().min(1).max(100).default(2).describe('sensors are spread over this many gateways'),
  groups: z.number().int().min(1).max(1000).default(3).describe('sensors are spread over this many groups'),
  rate: z.number().int().min(1).max(4000).default(200).describe('samples per second per sensor'),
  frameMs: z.number().int().min(5).max(10_000).default(100).describe('milliseconds of samples per frame'),
  host: z.string().default('127.0.0.1').describe('address the embedded MQTT broker listens on'),
  port: z.number().int().min(0).max(65535).default(1883).describe('port of the embedded MQTT broker; 0 picks a free one'),
  durationS: z.number().min(0).default(0).describe('seconds to run; 0 runs until Ctrl-C'),
  seed: z.number().int().default(1).describe('seed of the simulated signals'),
  statusEveryMs: z.number().int().min(50).default(1000).describe('interval of the status line'),
});

export type DemoConfig = DeepReadonly<z.output<typeof demoConfigSchema>>;

/** Every option's default, for help texts. */
export const DEMO_DEFAULTS: DemoConfig = Object.freeze(demoConfigSchema.parse({}));

export interface DemoStats {
  framesSent: number;
  framesReceived: number;
  batchesReceived: number;
  samplesReceived: number;
  bytesReceived: number;
  /** Frames whose seq skipped ahead: data lost. */
  gaps: number;
  /** Frames seen again or out of order. */
  duplicates: number;
  /** Binary frame size over JSON size of the same frame. */
  binaryToJson: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Messages that failed to decode, by error code. */
  rejected: Record<string, number>;
  /** Sensors per activity the subscriber infers from acceleration variance. */
  activities: Record<Activity, number>;
}

const ACTIVITIES: Activity[] = ['idle', 'walking', 'running'];
const LATENCY_WINDOW = 20_000;

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Crude activity from the std of vertical acceleration (dsp.wasm rowStats): a placeholder the feature kernels and model replace. */
function activityFromStd(std: number): Activity {
  return std < 0.3 ? 'idle' : std < 1.4 ? 'walking' : 'running';
}

function concat(frames: Frame[]): Float32Array {
  const out = new Float32Array(frames.reduce((n, f) => n + f.data.length, 0));
  let p = 0;
  for (const f of frames) {
    out.set(f.data, p);
    p += f.data.length;
  }
  return out;
}

export interface DemoHandle {
  url: string;
  /** The validated configuration, defaults filled in. */
  config: DemoConfig;
  stats(): DemoStats;
  /** Stops publishing, waits for frames in flight, closes clients and the broker. */
  stop(): Promise<DemoStats>;
}

export async function startDemo(input: unknown, onStatus?: (stats: DemoStats) => void): Promise<DemoHandle> {
  const config = parseConfig('demo', demoConfigSchema, input);
  const dsp = await loadDsp();
  const topics = mqttTopics();
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  try {
    server.listen(config.port, config.host);
    await once(server, 'listening');
  } catch (err) {
    await new Promise<void>((r) => broker.close(() => r()));
    const code = (err as NodeJS.ErrnoException).code;
    throw new EdgeError(
      'EW_EDGE_LISTEN',
      `the embedded MQTT broker cannot listen on ${config.host}:${config.port} (${code ?? (err as Error).message})` +
        (code === 'EADDRINUSE' ? ': another program uses that port; pass --port 0 for a free one, or --port N' : ''),
      { cause: err, retriable: code === 'EADDRINUSE', details: { host: config.host, port: config.port } },
    );
  }
  const { port } = server.address() as AddressInfo;
  const url = `mqtt://${config.host}:${port}`;

  // The most recent LATENCY_WINDOW latencies, in a ring: the demo may run for days.
  const latencies = new Float64Array(LATENCY_WINDOW);
  let latencyCount = 0;
  const lastSeq = new Map<string, number>();
  const activityBySensor = new Map<string, Activity>();
  const stats: DemoStats = {
    framesSent: 0, framesReceived: 0, batchesReceived: 0, samplesReceived: 0, bytesReceived: 0, gaps: 0, duplicates: 0,
    binaryToJson: 0, latencyMs: { p50: 0, p99: 0, max: 0 }, activities: { idle: 0, walking: 0, running: 0 }, rejected: {},
  };

  const subscriber: MqttClient = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'edgewave-demo-subscriber' });
  subscriber.on('message', (_topic, payload) => {
    const receivedUs = Date.now() * 1000;
    let frames: Frame[];
    try {
      frames = decodeBatch(payload);
    } catch (err) {
      // Anyone can publish to the broker (mosquitto_pub); bad input is counted, never fatal.
      const code = err instanceof EdgewaveError ? err.code : 'EW_UNEXPECTED';
      stats.rejected[code] = (stats.rejected[code] ?? 0) + 1;
      return;
    }
    stats.batchesReceived++;
    stats.bytesReceived += payload.length;
    // One kernel call for the whole batch: every channel of every frame is one row.
    const count = frames[0]!.count;
    const sameShape = frames.every((f) => f.count === count && f.width === 6);
    const rows = sameShape ? dsp.rowStats(concat(frames), frames.length * 6, count) : undefined;
    for (const [k, f] of frames.entries()) {
      if (rows) activityBySensor.set(f.sensorId, activityFromStd(rows[(k * 6 + 2) * ROW_STATS_WIDTH + 1]!));
      const prev = lastSeq.get(f.sensorId);
      if (prev !== undefined && f.seq > prev + 1) stats.gaps++;
      if (prev !== undefined && f.seq <= prev) stats.duplicates++;
      else lastSeq.set(f.sensorId, f.seq);
      stats.framesReceived++;
      stats.samplesReceived += f.count;
      // Latency from the last sample's time to its arrival here.
      latencies[latencyCount++ % LATENCY_WINDOW] = (receivedUs - (f.t0 + (f.count * 1e6) / f.sampleRate)) / 1000;
    }
  });
  await subscriber.subscribeAsync(topics.filters.batch, { qos: 1 });

  const samplesPerFrame = Math.max(1, Math.round((config.rate * config.frameMs) / 1000));
  const sensors = Array.from({ length: config.sensors }, (_, i) => ({
    sensorId: `imu-${String(i + 1).padStart(3, '0')}`,
    gatewayId: `gw-${(i % config.gateways) + 1}`,
    group: `group-${(i % config.groups) + 1}`,
    signal: new ImuSignal(config.rate, ACTIVITIES[i % ACTIVITIES.length]!, config.seed * 7919 + i),
    seq: 0,
  }));
  const gatewayIds = [...new Set(sensors.map((s) => s.gatewayId))];
  const publishers = new Map(
    await Promise.all(
      gatewayIds.map(async (g) => [g, await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `edgewave-demo-${g}` })] as const),
    ),
  );

  // Frame `tick` holds the samples of [start + tick * frame, start + (tick + 1) * frame) and is sent
  // when that interval has passed, as a gateway would; ticks are driven by the wall clock, not by
  // counting timer callbacks, so the sample rate stays exact when timers run late.
  const frameUs = samplesPerFrame * (1e6 / config.rate);
  const startUs = Date.now() * 1000;
  let tick = 0;
  let inFlight = 0;
  let ended: () => void = () => {};
  const publishTick = () => {
    const t0 = startUs + tick * frameUs;
    // Every 15 s some sensors change activity, so the picture moves.
    const rotate = Math.floor((tick * config.frameMs) / 15_000);
    const byGateway = new Map<string, Frame[]>();
    for (const [i, s] of sensors.entries()) {
      s.signal.activity = ACTIVITIES[(i + rotate) % ACTIVITIES.length]!;
      const frame: Frame = {
        kind: 'raw', flags: 0, sensorId: s.sensorId, gatewayId: s.gatewayId, group: s.group, seq: s.seq++, t0: Math.round(t0),
        sampleRate: config.rate, count: samplesPerFrame, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6,
        data: s.signal.next(samplesPerFrame),
      };
      const list = byGateway.get(s.gatewayId);
      if (list) list.push(frame);
      else byGateway.set(s.gatewayId, [frame]);
    }
    if (tick === 0) {
      const one = byGateway.values().next().value![0]!;
      stats.binaryToJson = encodeBatch([one]).length / Buffer.byteLength(encodeJsonFrame(one));
    }
    tick++;
    for (const [gatewayId, frames] of byGateway) {
      inFlight++;
      publishers.get(gatewayId)!.publishAsync(topics.batch(gatewayId), Buffer.from(encodeBatch(frames)), { qos: 1 }).then(
        () => {
          stats.framesSent += frames.length;
          if (--inFlight === 0) ended();
        },
        () => {
          if (--inFlight === 0) ended();
        },
      );
    }
  };
  const publishDue = () => {
    while (startUs + (tick + 1) * frameUs <= Date.now() * 1000) publishTick();
  };
  const publishTimer = setInterval(publishDue, Math.max(1, config.frameMs / 4));

  const snapshot = (): DemoStats => {
    const sorted = Array.from(latencies.subarray(0, Math.min(latencyCount, LATENCY_WINDOW))).sort((a, b) => a - b);
    stats.latencyMs = { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 };
    stats.activities = { idle: 0, walking: 0, running: 0 };
    for (const a of activityBySensor.values()) stats.activities[a]++;
    return { ...stats, latencyMs: { ...stats.latencyMs }, activities: { ...stats.activities }, rejected: { ...stats.rejected } };
  };
  const statusTimer = onStatus ? setInterval(() => onStatus(snapshot()), config.statusEveryMs) : undefined;

  let stopping: Promise<DemoStats> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(publishTimer);
      if (statusTimer) clearInterval(statusTimer);
      if (inFlight > 0) await Promise.race([new Promise<void>((r) => (ended = r)), new Promise((r) => setTimeout(r, 5000))]);
      // Let the last deliveries reach the subscriber before it disconnects.
      const deadline = Date.now() + 2000;
      while (stats.framesReceived < stats.framesSent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await Promise.all([...publishers.values()].map((p) => p.endAsync()));
      await subscriber.endAsync();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      return snapshot();
    })());
  return { url, config, stats: snapshot, stop };
}
