// Sources: CSV replay (rate from timestamps, gaps, bad lines, real time), UDP frames (binary,
// JSON, batches; refusals counted by code), the synthetic source's spread and phased start, the timed
// sources polled before each flush.

import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../edge/metrics.js';
import { startCsvSource } from '../../edge/sources/csv-source.js';
import type { SourceContext } from '../../edge/sources/source.js';
import { phaseStart, startSyntheticSource } from '../../edge/sources/synthetic-source.js';
import { startUdpSource } from '../../edge/sources/udp-source.js';
import { FLAG_GAP, encodeBatch, encodeFrame, encodeJsonFrame, type Frame } from '../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function context() {
  const seen = {
    registered: [] as { sensorId: string; group: string; sampleRate: number }[],
    adds: [] as { sensorId: string; samples: Float32Array; t0Us: number; gap: boolean }[],
    rejected: [] as string[],
  };
  const ctx: SourceContext = {
    register: (s) => void (seen.registered.find((r) => r.sensorId === s.sensorId) || seen.registered.push(s)),
    add: (sensorId, samples, t0Us, gap) => void seen.adds.push({ sensorId, samples: samples.slice(), t0Us, gap }),
    reject: (_source, code) => void seen.rejected.push(code),
    metrics: createMetrics({ outbox: () => ({ depthRecords: 0, depthBytes: 0 }), publisher: () => ({ connected: false, reconnects: 0, published: 0, acked: 0 }), featuresOnly: () => false }),
    log: pino({ level: 'silent' }),
  };
  return { ctx, seen };
}

const planarOf = (adds: { samples: Float32Array }[], ch: number) => adds.flatMap((a) => Array.from(a.samples.subarray((ch * a.samples.length) / 6, ((ch + 1) * a.samples.length) / 6)));

describe('CSV source', () => {
  it('replays as fast as possible: rate from the timestamps, a gap where they jump, bad lines refused', async () => {
    const rows = ['timestamp,ax,ay,az,gx,gy,gz'];
    let t = 1_700_000_000_000;
    for (let i = 0; i < 500; i++) {
      if (i === 300) t += 1000; // one second missing
      rows.push([t, i, -i, 9.81, i / 10, 0, 0.5].join(','));
      if (i === 100) rows.push(`${t + 5},1,2,oops,4,5,6`);
      t += 10;
    }
    const path = join(dir, 'a.csv');
    writeFileSync(path, rows.join('\n'));
    const { ctx, seen } = context();
    const src = startCsvSource({ path, sensorId: 'csv-1', group: 'g', timestampColumn: 'timestamp', timestampUnit: 'ms', channels: ['ax', 'ay', 'az', 'gx', 'gy', 'gz'], realtime: false, chunk: 40 }, ctx);
    await src.done;
    expect(seen.registered).toEqual([{ sensorId: 'csv-1', group: 'g', sampleRate: 100 }]);
    expect(seen.rejected).toEqual(['EW_EDGE_CSV']);
    expect(planarOf(seen.adds, 0)).toEqual([...Array(500).keys()]);
    expect(planarOf(seen.adds, 2).every((v) => v === Math.fround(9.81))).toBe(true);
    expect(seen.adds[0]!.t0Us).toBe(1_700_000_000_000_000);
    const gaps = seen.adds.filter((a) => a.gap);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.t0Us).toBe((1_700_000_000_000 + 300 * 10 + 1000) * 1000);
  });

  it('replays at the pace of the timestamps in real time', async () => {
    const rows = ['t,ax,ay,az,gx,gy,gz', ...Array.from({ length: 60 }, (_, i) => [`2026-01-01T00:00:${String(Math.floor(i / 100)).padStart(2, '0')}.${String((i % 100) * 10).padStart(3, '0')}Z`, 1, 2, 3, 4, 5, 6].join(','))];
    const path = join(dir, 'b.csv');
    writeFileSync(path, rows.join('\n'));
    const { ctx, seen } = context();
    const start = Date.now();
    const src = startCsvSource({ path, sensorId: 'csv-2', group: 'g', rate: 100, timestampColumn: 't', timestampUnit: 'iso', channels: ['ax', 'ay', 'az', 'gx', 'gy', 'gz'], realtime: true, chunk: 10 }, ctx);
    await src.done;
    expect(Date.now() - start).toBeGreaterThanOrEqual(500);
    expect(seen.adds.reduce((n, a) => n + a.samples.length / 6, 0)).toBe(60);
  });
});

describe('UDP source', () => {
  it('takes binary, JSON and batched raw frames; refuses the rest by code; notices gaps', async () => {
    const { ctx, seen } = context();
    const src = await startUdpSource({ host: '127.0.0.1', port: 0, format: 'auto' }, ctx);
    const frame = (sensorId: string, t0: number, flags = 0): Frame => ({
      kind: 'raw', flags, sensorId, gatewayId: 'gw', group: 'g1', seq: 0, t0, sampleRate: 100, count: 4, width: 6, window: 0, hop: 0, layoutId: 1, data: Float32Array.from({ length: 24 }, (_, i) => i),
    });
    const T = 1_764_000_000_000_000;
    const client = createSocket('udp4');
    const send = (b: Uint8Array) => new Promise<void>((r) => client.send(b, src.port, '127.0.0.1', () => r()));
    await send(encodeFrame(frame('u1', T)));
    await send(encodeFrame(frame('u1', T + 40_000))); // contiguous: 4 samples at 100 Hz
    await send(encodeFrame(frame('u1', T + 200_000))); // a jump
    await send(Buffer.from(encodeJsonFrame(frame('u2', T))));
    await send(encodeBatch([frame('u3', T), frame('u3', T + 40_000, FLAG_GAP)]));
    await send(new Uint8Array([1, 2, 3, 4]));
    await send(encodeFrame({ ...frame('u4', T), kind: 'features', window: 4, hop: 4 }));
    const end = Date.now() + 3000;
    while ((seen.adds.length < 6 || seen.rejected.length < 2) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    client.close();
    await src.stop();
    expect(seen.registered.map((r) => r.sensorId).sort()).toEqual(['u1', 'u2', 'u3']);
    expect(seen.adds.map((a) => [a.sensorId, a.gap])).toEqual([['u1', false], ['u1', false], ['u1', true], ['u2', false], ['u3', false], ['u3', true]]);
    expect(seen.rejected.sort()).toEqual(['EW_PROTO_KIND', 'EW_PROTO_MAGIC']);
  });
});

describe('synthetic source', () => {
  it('starts the sensors over startSpreadS: each from its own first sample, at its time, continuous after it', async () => {
    const { ctx, seen } = context();
    const rate = 200;
    // 4 sensors over 1 s: the first samples are 0, 50, 100 and 150 of the source's clock.
    const src = startSyntheticSource({ sensors: 4, rate, groups: 2, seed: 1, signals: 2, seconds: 2, startSpreadS: 1, prefix: 'gw' }, 20, ctx);
    await new Promise((r) => setTimeout(r, 1500));
    await src.stop();
    const byId = new Map<string, { t0Us: number; n: number }[]>();
    for (const a of seen.adds) {
      let list = byId.get(a.sensorId);
      if (!list) byId.set(a.sensorId, (list = []));
      list.push({ t0Us: a.t0Us, n: a.samples.length / 6 });
    }
    expect([...byId.keys()].sort()).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3']);
    const first = (id: string) => byId.get(id)![0]!.t0Us;
    const stepUs = 1e6 / rate;
    for (let i = 1; i < 4; i++) expect(first(`gw-${i}`) - first('gw-0'), `gw-${i}`).toBe(i * 50 * stepUs);
    // Each sensor's chunks follow on from each other, and it has as many samples as its later start leaves.
    const total = (id: string) => byId.get(id)!.reduce((n, c) => n + c.n, 0);
    for (const [id, chunks] of byId) for (let k = 1; k < chunks.length; k++) expect(chunks[k]!.t0Us, id).toBe(chunks[k - 1]!.t0Us + chunks[k - 1]!.n * stepUs);
    for (let i = 1; i < 4; i++) expect(total('gw-0') - total(`gw-${i}`), `gw-${i}`).toBe(i * 50);
  });

  it('phaseStart: the first instant from now at the phase, never earlier, at most a period later', () => {
    expect(phaseStart(10_000, 1280, 0)).toBe(10_240);
    expect(phaseStart(10_240, 1280, 0)).toBe(10_240);
    expect(phaseStart(10_241, 1280, 0)).toBe(11_520);
    expect(phaseStart(10_000, 1280, 320)).toBe(10_560);
    expect(phaseStart(10_300, 1280, 1000)).toBe(11_240);
    for (let now = 1_796_616_000_000; now < 1_796_616_000_000 + 3000; now += 97) {
      const at = phaseStart(now, 1280, 640);
      expect(at % 1280).toBe(640);
      expect(at - now).toBeGreaterThanOrEqual(0);
      expect(at - now).toBeLessThan(1280);
    }
  });

  it('startPhase: two sources started at different moments put their samples at the same phase', async () => {
    const rate = 200;
    const phase = { everyMs: 500, atMs: 100 };
    const a = context();
    const b = context();
    const srcA = startSyntheticSource({ sensors: 2, rate, groups: 1, seed: 1, signals: 1, seconds: 2, startSpreadS: 0, startPhase: phase, prefix: 'a' }, 20, a.ctx);
    await new Promise((r) => setTimeout(r, 170));
    const srcB = startSyntheticSource({ sensors: 2, rate, groups: 1, seed: 1, signals: 1, seconds: 2, startSpreadS: 0, startPhase: phase, prefix: 'b' }, 20, b.ctx);
    await new Promise((r) => setTimeout(r, 1300));
    await srcA.stop();
    await srcB.stop();
    const stepUs = 1e6 / rate;
    for (const [seen, name] of [[a.seen, 'a'], [b.seen, 'b']] as const) {
      const first = seen.adds.find((x) => x.sensorId === `${name}-0`)!;
      // Sample 0 at the phase: every sample's time is a whole number of steps from it.
      expect(first.t0Us % (phase.everyMs * 1000), name).toBe(phase.atMs * 1000);
      for (const x of seen.adds) expect((x.t0Us - first.t0Us) % stepUs, name).toBe(0);
      // Nothing from before the clock's start.
      expect(Math.min(...seen.adds.map((x) => x.t0Us)), name).toBe(first.t0Us);
    }
  });
});

describe('timed sources polled by the agent', () => {
  it('a poll delivers every sample due at that moment; the source timer stays out while polls come; nothing after stop', async () => {
    const { ctx, seen } = context();
    const rate = 1000;
    const tickMs = 200;
    const src = startSyntheticSource({ sensors: 2, rate, groups: 1, seed: 1, signals: 1, seconds: 1, startSpreadS: 0, prefix: 'p' }, tickMs, ctx);
    const count = () => seen.adds.filter((a) => a.sensorId === 'p-0').reduce((n, a) => n + a.samples.length / 6, 0);
    const newest = () => {
      const last = seen.adds.filter((a) => a.sensorId === 'p-0').at(-1)!;
      return last.t0Us / 1000 + (last.samples.length / 6 - 1) * (1000 / rate);
    };
    // Polled every 30 ms, well inside the source's own tick: each poll brings the sensor up to the
    // sample due at that moment (the newest is under 2 ms old), and only polls deliver.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 30));
      const before = seen.adds.length;
      // The clock read just before the poll: the sample due then is at most a sample period and a
      // millisecond's rounding older (the poll reads the clock again, no earlier).
      const at = Date.now();
      src.poll!();
      expect(seen.adds.length, `poll ${i}`).toBe(before + 2);
      expect(at - newest(), `poll ${i}`).toBeLessThan(2 + 1000 / rate);
      const polledAdds = seen.adds.length;
      await new Promise((r) => setTimeout(r, 25));
      expect(seen.adds.length, `no timer step between polls ${i}`).toBe(polledAdds);
    }
    // Unpolled for longer than a tick: the source's timer delivers on its own.
    const n = count();
    await new Promise((r) => setTimeout(r, tickMs * 2));
    expect(count()).toBeGreaterThan(n);
    await src.stop();
    const stopped = seen.adds.length;
    await new Promise((r) => setTimeout(r, 20));
    src.poll!();
    expect(seen.adds.length).toBe(stopped);
  });

  it('a poll naming sensors delivers theirs alone; the others catch up at the next poll, continuous', async () => {
    const { ctx, seen } = context();
    const rate = 1000;
    const src = startSyntheticSource({ sensors: 3, rate, groups: 1, seed: 1, signals: 1, seconds: 1, startSpreadS: 0, prefix: 'q' }, 1000, ctx);
    src.poll!();
    const first = seen.adds.length;
    expect(first).toBe(3);
    await new Promise((r) => setTimeout(r, 40));
    src.poll!(['q-1', 'unknown']);
    expect(seen.adds.slice(first).map((a) => a.sensorId)).toEqual(['q-1']);
    await new Promise((r) => setTimeout(r, 20));
    src.poll!();
    await src.stop();
    // Per sensor: chunks follow on from each other, and every sensor has the same samples by now.
    const totals = ['q-0', 'q-1', 'q-2'].map((id) => {
      const mine = seen.adds.filter((a) => a.sensorId === id);
      for (let k = 1; k < mine.length; k++) expect(mine[k]!.t0Us, id).toBe(mine[k - 1]!.t0Us + (mine[k - 1]!.samples.length / 6) * (1e6 / rate));
      return mine.reduce((n, a) => n + a.samples.length / 6, 0);
    });
    expect(totals[0]).toBe(totals[1]);
    expect(totals[2]).toBe(totals[1]);
    expect(seen.adds.filter((a) => a.sensorId === 'q-1').length).toBe(3);
    expect(seen.adds.filter((a) => a.sensorId === 'q-0').length).toBe(2);
  });
});
