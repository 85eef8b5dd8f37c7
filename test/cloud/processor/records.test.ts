// The inference record's JSON, written by hand for speed, reads back as the window: every field,
// and features and scores to the bit (as float32, which they are), with the classes and the top
// score when classified. A record holds windows of one group, a JSON line each: every window is in
// exactly one record, in order, under its group's key, and records stay under their size. A
// session event too large for a record travels in parts, each under the size, and is put together
// again whole, whatever else comes between its parts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WindowResult } from '../../../cloud/processor/engine.js';
import { inferenceJson, inferenceLines, inferenceMessages, parseInference, parseInferences, SessionAssembler, sessionMessages, type SessionRecord } from '../../../cloud/processor/records.js';
import type { SensorAggregate, SessionEvent } from '../../../cloud/processor/sessions.js';

const CLASSES = ['idle', 'walking', 'running', 'jumping', 'fall'];
const id = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/);
const f32 = fc.float({ noDefaultInfinity: false, noNaN: false }).map((v) => Math.fround(v));

const windowArb = fc.record({
  sensorId: id,
  gatewayId: id,
  group: id,
  seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  t0: fc.nat({ max: 2 ** 52 }),
  t1: fc.nat({ max: 2 ** 52 }),
  sampleRate: f32.filter((v) => Number.isFinite(v) && v > 0),
  hop: fc.integer({ min: 1, max: 65535 }),
  layoutId: fc.nat({ max: 2 ** 32 - 1 }),
  source: fc.constantFrom('edge' as const, 'processor' as const),
  features: fc.array(f32, { maxLength: 20 }),
  classified: fc.option(fc.record({ label: fc.constantFrom(...CLASSES), scores: fc.array(f32, { minLength: 5, maxLength: 5 }) }), { nil: undefined }),
});

describe('inference records', () => {
  it('read back as the window they were written from', () => {
    fc.assert(
      fc.property(windowArb, ({ classified, ...w }) => {
        const x: WindowResult = { ...w, features: Float32Array.from(w.features), ...(classified ? { label: classified.label, scores: Float32Array.from(classified.scores) } : {}) };
        const back = parseInference(inferenceJson(x, JSON.stringify(CLASSES)));
        const { features, scores, ...rest } = back;
        // Every float32 bit pattern comes back, NaN and -0 included.
        expect(new Uint32Array(features.buffer)).toEqual(new Uint32Array(Float32Array.from(x.features).buffer));
        const { features: _f, scores: _s, label, ...plain } = x;
        if (label === undefined) {
          expect(rest).toEqual(plain);
          expect(scores).toBeUndefined();
        } else {
          const finite = Array.from(x.scores!).filter((v) => !Number.isNaN(v));
          const best = finite.length ? Math.max(...finite) : -Infinity;
          expect(rest).toEqual({ ...plain, label, classes: CLASSES, confidence: Number.isFinite(best) ? best + 0 : null });
          expect(new Uint32Array(scores!.buffer)).toEqual(new Uint32Array(Float32Array.from(x.scores!).buffer));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('group windows by group, in order, a JSON line each, every record within its size', () => {
    // Any text in the ids (newlines, quotes, other scripts): JSON escapes what would split a line.
    const anyId = fc.oneof(id, fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), fc.constantFrom('a\nb', '"\n"', 'ä\u2028'));
    const windowsArb = fc.array(fc.record({ sensorId: anyId, group: fc.oneof(fc.constantFrom('g1', 'g2', 'g\n3'), anyId), n: fc.integer({ min: 0, max: 64 }) }), { maxLength: 200 });
    fc.assert(
      fc.property(windowsArb, fc.integer({ min: 200, max: 8000 }), (specs, maxBytes) => {
        const windows: WindowResult[] = specs.map((x, i) => ({
          sensorId: x.sensorId, gatewayId: 'gw', group: x.group, seq: i, t0: i * 1000, t1: i * 1000 + 999, sampleRate: 200, hop: 128, layoutId: 1, source: 'edge',
          features: new Float32Array(x.n).fill(i), label: 'walking', scores: Float32Array.from([0.1, 0.6, 0.1, 0.1, 0.1]),
        }));
        const records = inferenceMessages(windows, JSON.stringify(CLASSES), maxBytes);
        const byGroup = new Map<string, number[]>();
        for (const r of records) {
          const lines = inferenceLines(r.value);
          expect(lines.length).toBeGreaterThan(0);
          // Within the size, unless a window alone is longer.
          if (lines.length > 1) expect(Buffer.byteLength(r.value)).toBeLessThanOrEqual(maxBytes);
          for (const w of parseInferences(r.value)) {
            expect(w.group).toBe(r.key);
            byGroup.set(r.key, [...(byGroup.get(r.key) ?? []), w.seq]);
          }
        }
        // Every window once, in its group's order.
        const expected = new Map<string, number[]>();
        windows.forEach((w) => expected.set(w.group, [...(expected.get(w.group) ?? []), w.seq]));
        expect(byGroup).toEqual(expected);
        // As few records as the size allows: two of a group never fit into one.
        const sizes = new Map<string, number[]>();
        for (const r of records) sizes.set(r.key, [...(sizes.get(r.key) ?? []), Buffer.byteLength(r.value)]);
        for (const [g, list] of sizes) {
          const firstLines = records.filter((r) => r.key === g).map((r) => Buffer.byteLength(inferenceLines(r.value)[0]!));
          for (let i = 0; i + 1 < list.length; i++) expect(list[i]! + 1 + firstLines[i + 1]!).toBeGreaterThan(maxBytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a record of one window is the window\'s JSON; empty lines are skipped', () => {
    const w: WindowResult = { sensorId: 's1', gatewayId: 'gw', group: 'g', seq: 7, t0: 1, t1: 2, sampleRate: 200, hop: 128, layoutId: 1, source: 'processor', features: Float32Array.from([1, 2]) };
    const [r, ...more] = inferenceMessages([w], '[]');
    expect(more).toEqual([]);
    expect(r).toEqual({ key: 'g', value: inferenceJson(w, '[]') });
    expect(parseInferences(`\n${r!.value}\n\n${r!.value}\n`).map((x) => x.seq)).toEqual([7, 7]);
  });
});

/** A session event of `sensors` sensors in group `g`, at sample time `t` (µs). */
function sessionEvent(type: SessionEvent['type'], g: string, sensors: number, t: number): SessionEvent {
  const agg = (i: number): SensorAggregate => ({
    windows: 10 + i,
    durationS: 12.8 + i / 7,
    labels: { walking: 7 + (i % 3), running: 3 },
    dominant: 'walking',
    stats: { 'acc.mag_mean': { n: 10 + i, mean: 9.81 + i / 1e3, m2: 0.03, min: 9.7, max: 9.9 }, 'acc.mag_std': { n: 10 + i, mean: 0.76, m2: 0.01, min: 0.73, max: 0.78 } },
  });
  return {
    type,
    session: {
      sessionId: `${g}-1795000000000000`,
      group: g,
      status: type === 'ended' ? 'ended' : 'active',
      start: 1_795_000_000_000_000,
      end: type === 'ended' ? t : null,
      windows: sensors * 10,
      sensors: Object.fromEntries(Array.from({ length: sensors }, (_, i) => [`gw-${g}-s${i}`, agg(i)])),
      labels: { walking: { windows: sensors * 7, durationS: 90 } },
      dominant: 'walking',
      updatedAt: t,
    },
  };
}

describe('session records', () => {
  it('an event that fits is one record, its JSON as it is', () => {
    const ev = sessionEvent('updated', 'group-1', 5, 1_795_000_010_000_000);
    expect(sessionMessages([ev], 8192)).toEqual([{ key: 'group-1', value: JSON.stringify(ev) }]);
    expect(new SessionAssembler().add(JSON.parse(JSON.stringify(ev)) as SessionRecord)).toEqual(ev);
  });

  it('an event over the size goes in parts, each under it, and comes back whole, with parts of other events and repeats between', () => {
    const max = 8192;
    const a = sessionEvent('updated', 'group-1', 200, 1_795_000_010_000_000);
    const b = sessionEvent('ended', 'group-2', 45, 1_795_000_020_000_000);
    const ma = sessionMessages([a], max);
    const mb = sessionMessages([b], max);
    expect(Buffer.byteLength(JSON.stringify(a))).toBeGreaterThan(5 * max);
    for (const m of [...ma, ...mb]) expect(Buffer.byteLength(m.value)).toBeLessThanOrEqual(max);
    const parts = (ms: { value: string }[]) => ms.map((m) => JSON.parse(m.value) as SessionRecord);
    const pa = parts(ma);
    const pb = parts(mb);
    expect(pa.length).toBeGreaterThan(5);
    expect(pa.map((p) => p.part)).toEqual(pa.map((_, index) => ({ index, count: pa.length })));
    // Every part carries the event but the sensors; the sensors are shared out, none twice.
    for (const p of pa) expect({ ...p.session, sensors: {} }).toEqual({ ...a.session, sensors: {} });
    expect(pa.flatMap((p) => Object.keys(p.session.sensors))).toEqual(Object.keys(a.session.sensors));

    // Interleaved, one part of a read twice (a reader that read on after a retry).
    const asm = new SessionAssembler();
    const out: SessionEvent[] = [];
    const order = [pa[0]!, pb[0]!, pa[1]!, pa[1]!, ...pb.slice(1), ...pa.slice(2)];
    order.forEach((r, i) => {
      const e = asm.add(r, BigInt(100 + i));
      if (e) out.push(e);
    });
    expect(out).toEqual([b, a]);
    expect(asm.held).toBe(0);
    expect(asm.firstPendingOffset()).toBeUndefined();
  });

  it('holds the offset of the first part of an event still missing parts, and drops an event whose parts never all came once a later one of its session does', () => {
    const a = sessionEvent('updated', 'group-1', 60, 1_795_000_010_000_000);
    const pa = sessionMessages([a], 8192).map((m) => JSON.parse(m.value) as SessionRecord);
    const asm = new SessionAssembler();
    expect(asm.add(pa[0]!, 40n)).toBeUndefined();
    expect(asm.add(pa[1]!, 41n)).toBeUndefined();
    expect(asm.firstPendingOffset()).toBe(40n);
    expect(asm.held).toBe(2);
    // The next event of the session, whole: the torn one is dropped, nothing is held.
    const next = sessionEvent('updated', 'group-1', 3, 1_795_000_020_000_000);
    expect(asm.add(next, 42n)).toEqual(next);
    expect(asm.torn).toBe(1);
    expect(asm.firstPendingOffset()).toBeUndefined();
    expect(() => asm.add({ ...pa[0]!, part: { index: 3, count: 2 } })).toThrow(expect.objectContaining({ code: 'EW_PROCESSOR_SESSION_PART' }));
  });

  it('a sensor entry that cannot fit in a record with the rest of the event fails, naming the sensor and the sizes', () => {
    const ev = sessionEvent('updated', 'group-1', 3, 1_795_000_010_000_000);
    const big = Object.keys(ev.session.sensors)[1]!;
    ev.session.sensors[big]!.labels = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`label-${i}`, i]));
    expect(() => sessionMessages([ev], 4096)).toThrow(expect.objectContaining({ code: 'EW_PROCESSOR_RECORD_SIZE', message: expect.stringMatching(new RegExp(`sensor ${big}'s entry \\(\\d+ bytes\\) and the rest of the event \\(\\d+ bytes\\) do not fit in a record of 4096 bytes`)) }));
  });
});
