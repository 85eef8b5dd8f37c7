// The edge agent against a real Mosquitto: what it publishes is what dsp/ computes for the same
// samples, once and in order per sensor; a 30 s broker outage with the agent SIGKILLed in the
// middle loses nothing the agent had stored.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureExtractor, loadDsp } from '../../dsp/src/index.js';
import { featureSettings, startAgent } from '../../edge/agent.js';
import { parseEdgeConfig } from '../../edge/config.js';
import { decodeBatch, encodeFrame, encodeJsonFrame, type Frame } from '../../protocol/index.js';
import { servers } from '../config.js';
import { PrivateBroker, freePort } from './private-broker.js';

const settings = servers().mosquitto;
/** The agent's default feature hop (the uplink preset), in samples. */
const HOP = featureSettings({ preset: 'uplink' }).hop!;
const root = new URL('../..', import.meta.url).pathname;
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'edgewave-agent-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Subscribes to a gateway's topics with a persistent session and collects decoded frames in arrival order. */
async function collector(url: string, gateway: string, clientId: string) {
  const frames: Frame[] = [];
  const status: unknown[] = [];
  const client: MqttClient = await mqtt.connectAsync(url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 500 });
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/status')) status.push(JSON.parse(payload.toString()));
    else frames.push(...decodeBatch(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)));
  });
  await client.subscribeAsync(`edgewave/${gateway}/#`, { qos: 1 });
  return { frames, status, client };
}

/** Per sensor, frames in arrival order with later copies of a seq dropped. */
function bySensor(frames: Frame[]) {
  const out = new Map<string, Frame[]>();
  const seen = new Set<string>();
  let duplicates = 0;
  for (const f of frames) {
    const key = `${f.sensorId}/${f.seq}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    let list = out.get(f.sensorId);
    if (!list) out.set(f.sensorId, (list = []));
    list.push(f);
  }
  return { out, duplicates };
}

const until = async (cond: () => boolean | Promise<boolean>, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.runIf(settings)('edge agent with Mosquitto', () => {
  it('publishes raw and feature frames: once, in order, features equal to dsp/ on the same samples', async () => {
    const broker = new PrivateBroker(await freePort());
    await broker.start();
    const sub = await collector(broker.url, 'gw-t1', 'collector-t1');
    const agent = await startAgent(
      parseEdgeConfig({
        gatewayId: 'gw-t1',
        dataDir: tmp(),
        mqtt: { url: broker.url },
        sources: [{ type: 'simulator', sensors: 12, rate: 200, groups: 3 }],
        groups: { default: { mode: 'both' } },
        http: { port: 0 },
        logLevel: 'silent',
      }),
    );
    await new Promise((r) => setTimeout(r, 3500));
    const health = await (await fetch(`${agent.httpUrl}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', connected: true });
    const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/edgewave_edge_frames_total\{kind="features"\} [1-9]/);
    expect(metrics).toMatch(/edgewave_edge_acked_total [1-9]/);
    await agent.stop(5000);
    await until(() => sub.status.some((s) => (s as { reason?: string }).reason === 'stopped'), 5000, 'the stop status');
    await sub.client.endAsync();
    await broker.dispose();

    expect(sub.status[0]).toMatchObject({ state: 'online', gatewayId: 'gw-t1', sensors: 12 });
    const { out, duplicates } = bySensor(sub.frames);
    expect(duplicates).toBe(0);
    expect(out.size).toBe(12);
    const dsp = await loadDsp();
    for (const [sensor, frames] of out) {
      const seqs = frames.map((f) => f.seq);
      expect(seqs, sensor).toEqual([...seqs.keys()]);
      const raws = frames.filter((f) => f.kind === 'raw');
      const n = raws.reduce((a, f) => a + f.count, 0);
      expect(n).toBeGreaterThan(500);
      const signal = new Float32Array(6 * n);
      let at = 0;
      for (const f of raws) {
        expect(Math.abs(f.t0 - (raws[0]!.t0 + (at * 1e6) / 200))).toBeLessThanOrEqual(1);
        for (let c = 0; c < 6; c++) signal.set(f.data.subarray(c * f.count, (c + 1) * f.count), c * n + at);
        at += f.count;
      }
      const ex = new FeatureExtractor(dsp, { ...featureSettings({ preset: 'uplink' }), sampleRate: 200, capacity: 1 });
      const expected = ex.push([{ slot: 0, samples: signal }]);
      const feats = frames.filter((f) => f.kind === 'features');
      const rows = feats.reduce((a, f) => a + f.count, 0);
      expect(rows).toBe(expected.count);
      const got = new Float32Array(rows * ex.width);
      let r = 0;
      for (const f of feats) {
        // The uplink preset by default: 16 features per window, under its own layout id.
        expect([f.layoutId, f.width, f.window, f.hop]).toEqual([ex.layout.id, 16, 256, 256]);
        got.set(f.data, r * ex.width);
        r += f.count;
      }
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.features.buffer, expected.features.byteOffset, expected.features.byteLength)), sensor).toBe(true);
    }
  }, 30_000);

  it('200 sensors x 200 Hz: a 30 s broker outage, the agent SIGKILLed in it and restarted, nothing stored is lost', async () => {
    const broker = new PrivateBroker(await freePort());
    await broker.start();
    const sub = await collector(broker.url, 'gw-t2', 'collector-t2');
    const dataDir = tmp();
    const configFile = join(dataDir, 'edge.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        gatewayId: 'gw-t2',
        dataDir,
        mqtt: { url: broker.url, backoff: { minMs: 200, maxMs: 1000 } },
        sources: [{ type: 'simulator', sensors: 200, rate: 200, groups: 4 }],
        groups: { default: { mode: 'features' }, byGroup: { 'group-0': { mode: 'both' } } },
        uplink: { adaptive: false },
        http: { port: 0 },
        logLevel: 'warn',
      }),
    );
    const run = (): { proc: ChildProcess; http: Promise<string> } => {
      const proc = spawn(process.execPath, [join(root, 'bin/edgewave.js'), 'edge', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      const http = new Promise<string>((resolve) => {
        let err = '';
        proc.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /health and metrics on (http:\/\/\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
      });
      return { proc, http };
    };
    const first = run();
    await first.http;
    await new Promise((r) => setTimeout(r, 3000));
    await broker.stop(); // the outage starts
    await new Promise((r) => setTimeout(r, 10_000));
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    const second = run();
    const http = await second.http;
    await new Promise((r) => setTimeout(r, 20_000));
    await broker.start(); // 30 s later
    await until(async () => {
      const h = (await (await fetch(`${http}/health`)).json()) as { connected: boolean; backlogRecords: number };
      return h.connected && h.backlogRecords === 0;
    }, 60_000, 'the backlog to drain');
    await new Promise((r) => setTimeout(r, 1000));
    second.proc.kill('SIGTERM');
    const code = await new Promise((r) => second.proc.once('exit', r));
    expect(code).toBe(0);
    await until(() => sub.status.some((s) => (s as { reason?: string }).reason === 'stopped'), 10_000, 'the stop status');
    await sub.client.endAsync();
    await broker.dispose();

    const { out } = bySensor(sub.frames);
    expect(out.size).toBe(200);
    for (const [sensor, frames] of out) {
      const seqs = frames.map((f) => f.seq);
      // In order, per sensor, after de-duplication.
      expect(seqs, sensor).toEqual([...seqs].sort((a, b) => a - b));
      // The first run's numbers, then the second run's block: each without a hole.
      const a = seqs.filter((s) => s < 65_536);
      const b = seqs.filter((s) => s >= 65_536);
      expect(a, sensor).toEqual([...a.keys()]);
      expect(b, sensor).toEqual(b.map((_, i) => 65_536 + i));
      expect(b.length, `${sensor}: frames from the second run`).toBeGreaterThan(0);
      // Windows every hop, with one gap: the samples between the kill and the restart.
      const feats = frames.filter((f) => f.kind === 'features');
      const windows = feats.reduce((n, f) => n + f.count, 0);
      expect(windows).toBeGreaterThan(((30 * 200) / HOP) * 0.8);
      const runA = feats.filter((f) => f.seq < 65_536);
      for (let i = 1; i < runA.length; i++) {
        const prev = runA[i - 1]!;
        expect(runA[i]!.t0 - prev.t0, `${sensor} window spacing`).toBeCloseTo((prev.count * HOP * 1e6) / 200, -1);
      }
    }
  }, 150_000);

  it('while the broker is away: the adaptive uplink goes features-only, and at the bound raw frames are dropped first, counted', async () => {
    const broker = new PrivateBroker(await freePort());
    const metric = async (agent: { httpUrl: string }, re: RegExp) => Number(re.exec(await (await fetch(`${agent.httpUrl}/metrics`)).text())?.[1] ?? NaN);
    // Adaptive uplink: both-mode sensors stop sending raw while the backlog is large.
    const adaptive = await startAgent(
      parseEdgeConfig({
        gatewayId: 'gw-t3', dataDir: tmp(), mqtt: { url: broker.url, backoff: { minMs: 100, maxMs: 300 } },
        sources: [{ type: 'simulator', sensors: 20, rate: 200 }], groups: { default: { mode: 'both' } },
        uplink: { featuresOnlyAboveBytes: 200_000, resumeBelowBytes: 10_000 }, http: { port: 0 }, logLevel: 'silent',
      }),
    );
    await until(() => adaptive.featuresOnly(), 10_000, 'features-only');
    expect(await metric(adaptive, /edgewave_edge_uplink_features_only (\d+)/)).toBe(1);
    await broker.start();
    const sub = await collector(broker.url, 'gw-t3', 'collector-t3');
    await until(() => !adaptive.featuresOnly(), 20_000, 'the backlog to drain');
    await until(() => sub.status.some((s) => (s as { uplink?: string }).uplink === 'normal'), 5000, 'the uplink status');
    await adaptive.stop(5000);
    await sub.client.endAsync();
    // The next collector's persistent session exists before the broker goes away, so it gets what
    // the bounded agent sends once the broker is back, however fast that is.
    const sub4 = await collector(broker.url, 'gw-t4', 'collector-t4');
    await broker.stop();

    // The bound: raw frames go first, features stay.
    const bounded = await startAgent(
      parseEdgeConfig({
        gatewayId: 'gw-t4', dataDir: tmp(), mqtt: { url: broker.url, backoff: { minMs: 100, maxMs: 300 } },
        sources: [{ type: 'simulator', sensors: 20, rate: 200 }], groups: { default: { mode: 'both' } },
        outbox: { maxBytes: 400_000 }, uplink: { adaptive: false }, http: { port: 0 }, logLevel: 'silent',
      }),
    );
    await until(async () => (await metric(bounded, /edgewave_edge_outbox_dropped_total\{kind="raw"\} (\d+)/)) > 0, 15_000, 'raw drops');
    // Windows enough for every sensor to check their spacing below.
    await until(async () => (await metric(bounded, /edgewave_edge_windows_total (\d+)/)) >= 20 * 3, 15_000, 'three windows per sensor');
    // No feature record was dropped: its counter has no sample yet.
    expect(await metric(bounded, /edgewave_edge_outbox_dropped_total\{kind="features"\} (\d+)/)).toBeNaN();
    expect(bounded.outbox.stats().depthBytes).toBeLessThanOrEqual(400_000);
    await broker.start();
    await until(() => bounded.outbox.stats().depthRecords === 0, 20_000, 'the backlog to drain');
    await bounded.stop(5000);
    await until(() => sub4.status.some((s) => (s as { reason?: string }).reason === 'stopped'), 5000, 'the stop status');
    await sub4.client.endAsync();
    await broker.dispose();
    const { out } = bySensor(sub4.frames);
    expect(out.size).toBe(20);
    for (const [sensor, frames] of out) {
      // Every feature window arrived, evenly spaced; raw frames have holes, flagged by seq only.
      const feats = frames.filter((f) => f.kind === 'features');
      expect(feats.reduce((n, f) => n + f.count, 0), sensor).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < feats.length; i++) expect(feats[i]!.t0 - feats[i - 1]!.t0, sensor).toBeCloseTo((feats[i - 1]!.count * HOP * 1e6) / 200, -1);
    }
  }, 90_000);

  it('windowFlush: a raw window goes out as its last sample is taken, not at the next flush', async () => {
    const url = settings!.url;
    // flushMs 2 s: without windowFlush a window waits for the next tick, up to 2 s after its last sample.
    const delays = async (windowFlush: boolean, gw: string) => {
      const arrived: { frame: Frame; at: number }[] = [];
      const client = await mqtt.connectAsync(url, { clientId: `collector-${gw}-${Date.now()}` });
      client.on('message', (topic, payload) => {
        if (topic.endsWith('/status')) return;
        const at = Date.now();
        for (const frame of decodeBatch(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))) arrived.push({ frame, at });
      });
      await client.subscribeAsync(`edgewave/${gw}/batch`, { qos: 1 });
      const agent = await startAgent(
        parseEdgeConfig({
          gatewayId: gw, dataDir: tmp(), mqtt: { url }, flushMs: 2000, windowFlush,
          // Started over 0.6 s, so their windows end at different moments.
          sources: [{ type: 'synthetic', sensors: 4, rate: 200, groups: 2, startSpreadS: 0.6 }], groups: { default: { mode: 'raw' } },
          http: { port: 0 }, logLevel: 'silent',
        }),
      );
      await new Promise((r) => setTimeout(r, 4500));
      const flushes = Number(/edgewave_edge_flushes_total\{trigger="window"\} (\d+)/.exec(await (await fetch(`${agent.httpUrl}/metrics`)).text())?.[1] ?? 0);
      await agent.stop(5000);
      await client.endAsync();
      // Per sensor, as the cloud counts: windows of 256 samples every 256 (the uplink preset); the
      // delay from a window's last sample being taken to the frame holding it arriving here.
      const out: number[] = [];
      for (const id of new Set(arrived.map((a) => a.frame.sensorId))) {
        let sample = 0;
        for (const { frame, at } of arrived.filter((a) => a.frame.sensorId === id)) {
          const end = sample + frame.count;
          for (let w = 256; w <= end; w += HOP) if (w > sample) out.push(at - (frame.t0 + ((w - 1 - sample) * 1e6) / 200) / 1000);
          sample = end;
        }
      }
      return { out, flushes };
    };
    const on = await delays(true, 'gw-t6');
    const off = await delays(false, 'gw-t7');
    // Four sensors, two or three windows each by the stop.
    expect(on.out.length).toBeGreaterThanOrEqual(8);
    expect(off.out.length).toBeGreaterThanOrEqual(8);
    expect(on.flushes).toBeGreaterThan(0);
    expect(off.flushes).toBe(0);
    // Loose bounds: a window's frame is published within a few milliseconds with windowFlush,
    // against a uniform wait over the 2 s tick without (eight windows all under 0.6 s: p < 1e-4).
    expect(Math.max(...on.out), JSON.stringify(on.out)).toBeLessThan(400);
    expect(Math.max(...off.out), JSON.stringify(off.out)).toBeGreaterThan(600);
  }, 30_000);

  it('takes sensor frames from a gateway-local broker and forwards them', async () => {
    const url = settings!.url;
    const sub = await collector(url, 'gw-t5', `collector-t5-${Date.now()}`);
    const agent = await startAgent(
      parseEdgeConfig({
        gatewayId: 'gw-t5', dataDir: tmp(), mqtt: { url },
        sources: [{ type: 'mqtt', url, topic: 'local-t5/sensors/#' }], groups: { default: { mode: 'raw' } },
        http: { port: 0 }, logLevel: 'silent',
      }),
    );
    const sensor = await mqtt.connectAsync(url, { protocolVersion: 5 });
    await until(async () => (await (await fetch(`${agent.httpUrl}/health`)).json() as { connected: boolean }).connected, 5000, 'the agent to connect');
    await new Promise((r) => setTimeout(r, 300)); // the source's subscription
    const T = 1_764_000_000_000_000;
    for (let k = 0; k < 5; k++) {
      const frame = {
        kind: 'raw' as const, flags: 0, sensorId: 'local-1', gatewayId: 'sensor-box', group: 'g', seq: k, t0: T + k * 100_000, sampleRate: 100, count: 10, width: 6,
        window: 0, hop: 0, layoutId: 1, data: Float32Array.from({ length: 60 }, (_, i) => k * 100 + i),
      };
      await sensor.publishAsync('local-t5/sensors/local-1', Buffer.from(k % 2 ? encodeJsonFrame(frame) : encodeFrame(frame)), { qos: 1 });
    }
    await sensor.publishAsync('local-t5/sensors/junk', 'not a frame', { qos: 1 });
    await until(() => sub.frames.reduce((n, f) => n + f.count, 0) >= 50, 10_000, 'the forwarded samples');
    expect(await (await fetch(`${agent.httpUrl}/metrics`)).text()).toMatch(/edgewave_edge_rejected_total\{code="EW_PROTO_\w+"\} 1/);
    await agent.stop(3000);
    await sensor.endAsync();
    await sub.client.endAsync();
    const frames = sub.frames.filter((f) => f.sensorId === 'local-1');
    expect(frames.every((f) => f.gatewayId === 'gw-t5' && f.kind === 'raw')).toBe(true);
    const ax = frames.flatMap((f) => Array.from(f.data.subarray(0, f.count)));
    expect(ax).toEqual([0, 1, 2, 3, 4].flatMap((k) => Array.from({ length: 10 }, (_, i) => k * 100 + i)));
    expect(frames[0]!.t0).toBe(T);
  }, 30_000);
});

