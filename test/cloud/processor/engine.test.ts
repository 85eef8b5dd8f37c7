// The processor's engine on frames from real edge pipelines: features computed from raw frames equal
// the edge's bit for bit; every window of the model's layout is classified, the sensor's state
// carried along; a sensor in mode `both` counts each window once; duplicates and swapped frames change nothing; and state saved midway and restored
// gives the same windows, classes and sessions as an uninterrupted run.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivityModel } from '../../../cloud/model/model.js';
import { Engine, type EngineOptions, type SensorSnapshot, type SourcedFrame, type WindowResult } from '../../../cloud/processor/engine.js';
import type { SessionEvent } from '../../../cloud/processor/sessions.js';
import { FEATURE_PRESETS, featureLayout, loadDsp, parseFeatureConfig, presetSettings, type DspModule } from '../../../dsp/src/index.js';
import { Pipeline } from '../../../edge/pipeline.js';
import { SeqStore } from '../../../edge/seq-store.js';
import { Simulator } from '../../../edge/simulator.js';
import { decodeBatch, FLAG_FEATURES_SENT, type Frame } from '../../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const RATE = 200;
const SENSORS = 12;
const T0 = 1_795_000_000_000_000;

let dsp: DspModule;
let model: ActivityModel;
/** What an edge agent in `both` mode sent for 120 s of 12 sensors in 3 groups: raw and feature frames, in order. */
let sent: Frame[];

beforeAll(async () => {
  dsp = await loadDsp();
  model = await ActivityModel.load(readFileSync(new URL('../../../cloud/model/activity-gru.onnx', import.meta.url)), {
    layout: featureLayout(parseFeatureConfig({ ...FEATURE_PRESETS.uplink, sampleRate: RATE })),
  });
  const p = new Pipeline({ gatewayId: 'gw-e', topicRoot: 'edgewave', dsp, seq: SeqStore.open(join(dir, 'seq.json')), capacity: SENSORS, features: presetSettings('uplink') });
  const sim = new Simulator({ sensors: SENSORS, sampleRate: RATE, seed: 5, groups: 3, dropoutsPerHour: 0, meanDwellS: 15, mix: { idle: 1, walking: 3, running: 2, jumping: 1, fall: 0.1 } });
  for (const s of sim.sensors) p.register({ sensorId: s.sensorId, group: s.group, sampleRate: RATE, mode: 'both', decimate: 1 });
  sent = [];
  for (let k = 0; k < (120 * RATE) / 10; k++) {
    const step = sim.next(10);
    sim.sensors.forEach((s, i) => p.add(s.sensorId, step.samples[i]!, T0 + Math.round((k * 10 * 1e6) / RATE)));
    for (const item of p.flush().items) sent.push(...decodeBatch(item.payload, { maxFutureMs: Infinity }).map((f) => ({ ...f, data: f.data.slice() })));
  }
});

/** The raw frames of `sent` as an agent in `raw` mode sends them: without FLAG_FEATURES_SENT, so the processor cuts them. */
const rawMode = (): Frame[] => sent.filter((f) => f.kind === 'raw').map((f) => ({ ...f, flags: f.flags & ~FLAG_FEATURES_SENT }));

const options = (): EngineOptions => ({
  dsp,
  features: presetSettings('uplink'),
  model,
  sequencer: { maxPending: 16, maxSpanUs: 3_000_000 },
  sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, summaries: ['acc.mag_std'], updateEveryS: 15, staleUs: 3_000_000 },
});

async function runAll(frames: Frame[], engine = new Engine(options()), batch = 50) {
  const windows: WindowResult[] = [];
  const sessions: SessionEvent[] = [];
  // What the processor's changelog would hold: each sensor and group as of the last call that changed it.
  const changelog = { sensors: new Map<string, string>(), groups: new Map<string, string>(), writes: 0 };
  let duplicates = 0;
  let skipped = 0;
  for (let i = 0; i < frames.length; i += batch) {
    const out = await engine.process(frames.slice(i, i + batch));
    skipped += out.skipped;
    windows.push(...out.windows);
    sessions.push(...out.sessions);
    duplicates += out.duplicates;
    for (const id of out.changedSensors) changelog.sensors.set(id, JSON.stringify(engine.snapshotSensor(id)));
    changelog.writes += out.changedSensors.length;
    for (const g of out.changedGroups) changelog.groups.set(g, JSON.stringify(engine.snapshotGroup(g)));
  }
  return { windows, sessions, duplicates, skipped, engine, changelog };
}

const key = (w: WindowResult) => `${w.sensorId}@${w.t0}`;

describe('processor engine', () => {
  it('features computed from raw frames equal the edge agent\'s, bit for bit, window for window', async () => {
    const { windows } = await runAll(rawMode());
    const edge = new Map<string, number[]>();
    for (const f of sent.filter((x) => x.kind === 'features')) {
      for (let i = 0; i < f.count; i++) edge.set(`${f.sensorId}@${f.t0 + Math.round((i * f.hop * 1e6) / f.sampleRate)}`, Array.from(f.data.subarray(i * f.width, (i + 1) * f.width)));
    }
    expect(windows.length).toBe(edge.size);
    for (const w of windows) {
      expect(w.source).toBe('processor');
      const e = edge.get(key(w));
      expect(e, key(w)).toBeDefined();
      expect(Buffer.from(Float32Array.from(w.features).buffer).equals(Buffer.from(Float32Array.from(e!).buffer)), key(w)).toBe(true);
    }
  });

  it('every window is classified; edge feature frames give the same classes as the raw frames of the same samples', async () => {
    const fromRaw = await runAll(rawMode());
    const fromEdge = await runAll(sent.filter((f) => f.kind === 'features'));
    expect(fromRaw.windows.every((w) => w.label && w.scores!.length === 5)).toBe(true);
    const byKey = new Map(fromEdge.windows.map((w) => [key(w), w]));
    for (const w of fromRaw.windows) {
      expect(byKey.get(key(w))?.label, key(w)).toBe(w.label);
      expect(byKey.get(key(w))?.scores).toEqual(w.scores);
    }
    // The sensors moved: more than idle was recognised, and the groups had sessions.
    expect(new Set(fromRaw.windows.map((w) => w.label)).size).toBeGreaterThan(2);
    const marks = (ev: SessionEvent[]) => ev.filter((e) => e.type !== 'updated').map((e) => `${e.type} ${e.session.sessionId}`);
    expect(marks(fromRaw.sessions).filter((m) => m.startsWith('started')).length).toBeGreaterThan(0);
    // The edge sends a sensor's features as its windows complete, the raw frames on their own
    // schedule; the windows meet the sessions in another order across calls, yet start and end them alike.
    expect(marks(fromEdge.sessions)).toEqual(marks(fromRaw.sessions));
  });

  it('mode `both`: every window once, from the edge\'s feature frames; its raw frames (flagged) are not cut again, whatever order the two kinds come in', async () => {
    const raw = sent.filter((f) => f.kind === 'raw');
    const features = sent.filter((f) => f.kind === 'features');
    expect(raw.every((f) => (f.flags & FLAG_FEATURES_SENT) !== 0)).toBe(true);
    const fromEdge = await runAll(features);
    const sig = (ws: WindowResult[]) => ws.map((w) => `${key(w)} ${w.source} ${w.label} ${w.scores!.join(',')}`).sort();
    const marks = (ev: SessionEvent[]) => ev.map((e) => `${e.type} ${e.session.sessionId} ${e.session.windows}`);
    // As sent (both kinds interleaved), all raw first, all features first: the same windows once each, the same sessions.
    for (const order of [sent, [...raw, ...features], [...features, ...raw]]) {
      const r = await runAll(order);
      expect(r.windows.length).toBe(fromEdge.windows.length);
      expect(sig(r.windows)).toEqual(sig(fromEdge.windows));
      expect(marks(r.sessions)).toEqual(marks(fromEdge.sessions));
      // The raw frames change no state: a sensor record is written only for calls that had its windows.
      expect(r.changelog.writes).toBeLessThanOrEqual(r.windows.length);
    }
    const rawAlone = await runAll(raw);
    expect(rawAlone.windows.length + rawAlone.changelog.writes + rawAlone.duplicates).toBe(0);
    expect(fromEdge.windows.length).toBeGreaterThan(1000);
    // A sensor switched from `raw` to `both` midway: windows cut from raw before, from the edge after, each once.
    const id = raw[0]!.sensorId;
    const switchAt = raw[Math.floor(raw.length / 2)]!.t0;
    const mixed = sent.filter((f) => f.sensorId === id && (f.kind === 'raw' ? true : f.t0 >= switchAt + 1_280_000))
      .map((f) => (f.kind === 'raw' && f.t0 < switchAt ? { ...f, flags: f.flags & ~FLAG_FEATURES_SENT } : f));
    const m = await runAll(mixed);
    const starts = m.windows.map((w) => w.t0);
    expect(new Set(starts).size).toBe(starts.length);
    expect(m.windows.filter((w) => w.source === 'processor').every((w) => w.t1 <= switchAt + 50_000)).toBe(true);
    expect(m.windows.some((w) => w.source === 'processor') && m.windows.some((w) => w.source === 'edge')).toBe(true);
    // And back to `raw`: the raw frames after the last edge window are cut at once (not held as after a missing stretch).
    const back = sent.filter((f) => f.sensorId === id && (f.kind === 'raw' || f.t0 < switchAt))
      .map((f) => (f.kind === 'raw' && f.t0 >= switchAt ? { ...f, flags: f.flags & ~FLAG_FEATURES_SENT } : f));
    const bk = await runAll(back);
    expect(bk.skipped).toBe(0);
    const cutAfter = bk.windows.filter((w) => w.source === 'processor');
    expect(cutAfter.length).toBeGreaterThan(20);
    expect(cutAfter[0]!.t0).toBeGreaterThanOrEqual(switchAt);
    expect(cutAfter[0]!.t0).toBeLessThan(switchAt + 100_000);
  });

  it('a group gone silent mid-session: the partition\'s newer windows end its session at its last active moment, once, whatever the batches, also across a restore', async () => {
    const features = sent.filter((f) => f.kind === 'features');
    const silentOptions = (): EngineOptions => ({ ...options(), sessions: { ...options().sessions, silentGraceS: 5 } });
    // A session of the uninterrupted run that lasts a while and has input after it.
    const full = await runAll(features, new Engine(silentOptions()));
    const ends = new Map(full.sessions.filter((e) => e.type === 'ended').map((e) => [e.session.sessionId, e.session.end!]));
    const started = full.sessions.find((e) => e.type === 'started' && (ends.get(e.session.sessionId) ?? Infinity) - e.session.start > 25e6 && e.session.start < T0 + 70e6)!;
    expect(started).toBeDefined();
    const { group, sessionId } = started.session;
    const cut = started.session.start + 15e6;
    // The group's sensors send nothing from `cut` on; the other groups go on to 120 s.
    const input = features.filter((f) => f.group !== group || f.t0 < cut);
    const r = await runAll(input, new Engine(silentOptions()));
    const mine = r.sessions.filter((e) => e.session.group === group);
    const ended = mine.filter((e) => e.type === 'ended');
    expect(ended.map((e) => e.session.sessionId)).toEqual([sessionId]);
    expect(mine.at(-1)).toBe(ended[0]);
    const end = ended[0]!.session.end!;
    // At the end of one of its last windows (those starting before the cut).
    expect(end).toBeLessThanOrEqual(cut + 1.28e6);
    expect(end).toBeGreaterThan(cut - 5e6);
    // Ended by the first window of the others that reaches end + idleGapS + silentGraceS (15 s), not before.
    const lastT1 = (f: Frame) => f.t0 + Math.round((((f.count - 1) * f.hop + f.window) * 1e6) / f.sampleRate);
    const reaching = input.findIndex((f) => lastT1(f) >= end + 15e6);
    expect(input[reaching]!.group).not.toBe(group);
    const endedBy = async (n: number) => (await runAll(input.slice(0, n), new Engine(silentOptions()))).sessions.some((e) => e.type === 'ended' && e.session.sessionId === sessionId);
    expect(await endedBy(reaching)).toBe(false);
    expect(await endedBy(reaching + 1)).toBe(true);
    // The group alone: no window ends it; time moved on without one (`advanceTo`, the processor's clock) does, the same way.
    const alone = await runAll(input.filter((f) => f.group === group), new Engine(silentOptions()));
    expect(alone.sessions.some((e) => e.type === 'ended' && e.session.sessionId === sessionId)).toBe(false);
    expect(alone.engine.nextSilentDeadline()).toBe(end + 15e6);
    expect(alone.engine.advanceTo(end + 15e6 - 1).sessions).toEqual([]);
    const byClock = alone.engine.advanceTo(end + 15e6);
    expect(byClock.sessions).toEqual([ended[0]]);
    expect(byClock.changedGroups).toEqual([group]);
    expect(alone.engine.nextSilentDeadline()).toBe(Infinity);
    // Without silentGraceS it stays open.
    const open = await runAll(input);
    expect(open.sessions.filter((e) => e.session.group === group && e.type === 'ended')).toEqual([]);
    // Batches of 7 frames instead of 50, and a restore from the changelog between the silence and the end: the same events.
    const small = await runAll(input, new Engine(silentOptions()), 7);
    expect(small.sessions).toEqual(r.sessions);
    const half = input.findIndex((f) => f.t0 >= cut + 8e6);
    const a = await runAll(input.slice(0, half), new Engine(silentOptions()), 12);
    expect(a.sessions.filter((e) => e.type === 'ended' && e.session.sessionId === sessionId)).toEqual([]);
    const b = new Engine(silentOptions());
    for (const [id, json] of a.changelog.sensors) b.restoreSensor(id, JSON.parse(json));
    for (const [g, json] of a.changelog.groups) b.restoreGroup(g, JSON.parse(json));
    const rest = await runAll(input.slice(half), b);
    expect([...a.sessions, ...rest.sessions]).toEqual(r.sessions);
  });

  it('duplicates and swapped neighbours change nothing', async () => {
    const raw = rawMode();
    const clean = await runAll(raw);
    const messy = [...raw];
    for (let i = 10; i < messy.length - 1; i += 37) [messy[i], messy[i + 1]] = [messy[i + 1]!, messy[i]!];
    for (let i = 20; i < messy.length; i += 53) messy.splice(i + 3, 0, messy[i]!);
    const r = await runAll(messy);
    expect(r.duplicates).toBeGreaterThan(0);
    const byKey = (ws: WindowResult[]) => new Map(ws.map((w) => [key(w), `${w.label} ${w.scores!.join(',')}`]));
    expect(r.windows.length).toBe(clean.windows.length);
    expect(byKey(r.windows)).toEqual(byKey(clean.windows));
  });

  it('how the frames are split into calls (Kafka batches) changes nothing', async () => {
    const raw = rawMode();
    const a = await runAll(raw, new Engine(options()), 50);
    const b = await runAll(raw, new Engine(options()), 7);
    expect(b.windows).toEqual(a.windows);
    expect(b.sessions).toEqual(a.sessions);
  });

  it('state saved midway (as JSON) and restored into a new engine gives what an uninterrupted run gives', async () => {
    const raw = rawMode();
    const whole = await runAll(raw);
    const half = Math.floor(raw.length / 2) + 7;
    const a = await runAll(raw.slice(0, half));
    const b = new Engine(options());
    const sensors = new Set(raw.map((f) => f.sensorId));
    for (const id of sensors) b.restoreSensor(id, JSON.parse(JSON.stringify(a.engine.snapshotSensor(id))));
    for (const g of new Set(raw.map((f) => f.group))) {
      const st = a.engine.snapshotGroup(g);
      if (st) b.restoreGroup(g, JSON.parse(JSON.stringify(st)));
    }
    const rest = await runAll(raw.slice(half), b);
    const joined = [...a.windows, ...rest.windows];
    expect(joined.map(key)).toEqual(whole.windows.map(key));
    expect(joined.map((w) => w.scores)).toEqual(whole.windows.map((w) => w.scores));
    expect([...a.sessions, ...rest.sessions]).toEqual(whole.sessions);
  });

  it('pending samples saved as the input offsets they came from, read back from the input after a restore, give what an uninterrupted run gives', async () => {
    // The input as Kafka records: the frames of one flush (12 sensors) share a record's offset. A
    // sensor's frames swap places now and then (its sequencer holds one), and some come twice.
    const raw = rawMode();
    const arrival = [...raw];
    for (let i = 100; i < arrival.length - 12; i += 97) [arrival[i], arrival[i + 12]] = [arrival[i + 12]!, arrival[i]!];
    for (let i = 50; i < arrival.length; i += 61) arrival.splice(i + 30, 0, arrival[i]!);
    const input: SourcedFrame[] = arrival.map((f, i) => ({ ...f, offset: Math.floor(i / 12) }));
    const whole = await runAll(input);
    let held = 0;
    // Cuts where a swapped frame is held: the later frame in an earlier record than the one before it.
    const whileHeld: number[] = [];
    const newest = new Map<string, SourcedFrame>();
    for (const f of input) {
      const n = newest.get(f.sensorId);
      if (n && n.t0 > f.t0 && n.offset! < f.offset! && whileHeld.length < 3) whileHeld.push(f.offset!);
      if (!n || f.t0 > n.t0) newest.set(f.sensorId, f);
    }
    expect(whileHeld.length).toBe(3);
    let stale = 0;
    for (const cutOffset of [301, 777, ...whileHeld, 1650]) {
      const cut = input.findIndex((f) => f.offset === cutOffset);
      // Kafka batches of one record each, as the processor gets them at worst.
      const a = await runAll(input.slice(0, cut), new Engine(options()), 12);
      const b = new Engine(options());
      let bytes = 0;
      // Restored from the changelog: a sensor as of the last batch that changed it.
      for (const [id, json] of a.changelog.sensors) {
        const snap = JSON.parse(json) as SensorSnapshot;
        bytes += json.length;
        // No samples in the state: where they came from.
        expect(snap.pending?.data, id).toBeUndefined();
        held += snap.raw.pending.length;
        if (snap.pending && snap.pending.n !== a.engine.snapshotSensor(id)!.pending!.n) stale++;
        b.restoreSensor(id, snap);
      }
      for (const [g, json] of a.changelog.groups) {
        bytes += json.length;
        b.restoreGroup(g, JSON.parse(json));
      }
      // Under a kilobyte per sensor, its session entries included (the samples alone would be up to 6 KB).
      expect(bytes / 12).toBeLessThan(1000);
      const from = b.refillFrom()!;
      expect(from).toBeGreaterThan(cutOffset - 30);
      b.refill(input.slice(0, cut).filter((f) => f.offset! >= from));
      expect(b.refillFrom()).toBeNull();
      const rest = await runAll(input.slice(cut), b);
      const joined = [...a.windows, ...rest.windows];
      expect(joined.map(key), `cut at offset ${cutOffset}`).toEqual(whole.windows.map(key));
      expect(joined.map((w) => Buffer.from(w.features.buffer, w.features.byteOffset, w.features.byteLength).toString('base64'))).toEqual(whole.windows.map((w) => Buffer.from(w.features.buffer, w.features.byteOffset, w.features.byteLength).toString('base64')));
      expect(joined.map((w) => w.scores)).toEqual(whole.windows.map((w) => w.scores));
      expect([...a.sessions, ...rest.sessions]).toEqual(whole.sessions);
    }
    // Some cut fell while a sequencer held a frame; at some, frames had been taken since a sensor was last written.
    expect(held).toBeGreaterThan(0);
    expect(stale).toBeGreaterThan(0);
    // Most frames are taken without a changelog write: only windows, new starts and held frames need one.
    const counted = await runAll(input, new Engine(options()), 12);
    expect(counted.changelog.writes).toBeGreaterThan(counted.windows.length);
    expect(counted.changelog.writes).toBeLessThan(input.length / 5);
  });

  it('a group\'s record leaves its sensors\' session entries to their records; sensors moving to another group midway, and back, restore to what an uninterrupted run gives; a sensor record missing fails the restore, naming it', async () => {
    const raw = rawMode();
    const ids = [...new Set(raw.map((f) => f.sensorId))];
    const [mover, roamer] = [ids[0]!, ids[5]!];
    const third = raw[Math.floor(raw.length / 3)]!.t0;
    const twoThirds = raw[Math.floor((2 * raw.length) / 3)]!.t0;
    // Two sensors join a new group a third of the way through; one of them goes back at two thirds.
    const input = raw.map((f) => ((f.sensorId === mover && f.t0 >= third) || (f.sensorId === roamer && f.t0 >= third && f.t0 < twoThirds) ? { ...f, group: 'moved' } : f));
    const whole = await runAll(input);
    expect(whole.sessions.some((e) => e.session.sensors[mover] && e.session.group === 'moved')).toBe(true);
    // Cuts right after each move (before the group left has a window again), and between.
    const moved = input.findIndex((f) => f.sensorId === mover && f.group === 'moved') + 1;
    const back = input.findIndex((f) => f.sensorId === roamer && f.t0 >= twoThirds) + 1;
    for (const cut of [Math.floor(raw.length * 0.25), moved, Math.floor(raw.length * 0.5), back, Math.floor(raw.length * 0.8)]) {
      const a = await runAll(input.slice(0, cut), new Engine(options()), 12);
      const groupOf = new Map(input.slice(0, cut).map((f) => [f.sensorId, f.group]));
      const b = new Engine(options());
      for (const [id, json] of a.changelog.sensors) b.restoreSensor(id, JSON.parse(json));
      for (const [g, json] of a.changelog.groups) {
        const snap = JSON.parse(json) as { latest: Record<string, unknown>; session: { sensors: Record<string, unknown> } | null };
        // Entries in place only for sensors that left the group; the others' are 0.
        const inPlace = [...Object.entries(snap.latest), ...Object.entries(snap.session?.sensors ?? {})].filter(([, v]) => v !== 0).map(([id]) => id);
        expect(inPlace.every((id) => groupOf.get(id) !== g), `group ${g} at ${cut}: ${inPlace.join()}`).toBe(true);
        expect(Object.keys(snap.latest).length).toBeGreaterThan(0);
        b.restoreGroup(g, snap as Parameters<Engine['restoreGroup']>[1]);
      }
      const rest = await runAll(input.slice(cut), b);
      expect([...a.windows, ...rest.windows].map(key), `cut at ${cut}`).toEqual(whole.windows.map(key));
      expect([...a.sessions, ...rest.sessions], `cut at ${cut}`).toEqual(whole.sessions);
    }
    // A sensor's record missing from the changelog: its group's places stay empty, and the restore says so.
    const a = await runAll(input.slice(0, raw.length / 2), new Engine(options()), 12);
    const c = new Engine(options());
    const lost = ids[3]!;
    for (const [id, json] of a.changelog.sensors) if (id !== lost) c.restoreSensor(id, JSON.parse(json));
    for (const [g, json] of a.changelog.groups) c.restoreGroup(g, JSON.parse(json));
    expect(() => c.finishRestore()).toThrow(new RegExp(`the session entries of sensor ${lost} were not in the changelog`));
  });

  it('a refill that cannot find the samples fails, naming the sensor; samples from far back are saved as such', async () => {
    const raw: SourcedFrame[] = rawMode().map((f, i) => ({ ...f, offset: Math.floor(i / 12) }));
    const cut = raw.findIndex((f) => f.offset === 500);
    const a = await runAll(raw.slice(0, cut));
    const id = raw[0]!.sensorId;
    const b = new Engine(options());
    b.restoreSensor(id, JSON.parse(JSON.stringify(a.engine.snapshotSensor(id))));
    const from = b.refillFrom()!;
    // Continuing without the samples is refused.
    await expect(b.process(raw.slice(cut, cut + 12))).rejects.toThrow(/refill/);
    expect(() => b.refill(raw.slice(0, cut).filter((f) => f.offset! > from))).toThrow(new RegExp(`sensor ${id}`));
    // Pinned: the samples go into the snapshot, and a restore needs no input.
    expect(a.engine.pinPendingBefore(500)).toContain(id);
    const snap = JSON.parse(JSON.stringify(a.engine.snapshotSensor(id))) as SensorSnapshot;
    expect(snap.pending?.data?.length).toBe(6);
    const c = new Engine(options());
    c.restoreSensor(id, snap);
    expect(c.refillFrom()).toBeNull();
    const whole = await runAll(raw.filter((f) => f.sensorId === id));
    const rest = await runAll(raw.slice(cut).filter((f) => f.sensorId === id), c);
    expect([...a.windows.filter((w) => w.sensorId === id), ...rest.windows].map((w) => w.scores)).toEqual(whole.windows.map((w) => w.scores));
  });

  it('a new model of the same shapes keeps each sensor\'s model state; a model of other shapes starts every sensor afresh', async () => {
    const raw = rawMode();
    const half = Math.floor(raw.length / 2);
    const whole = await runAll(raw);
    // The same model loaded again: a new session, the same shapes; the state carries over.
    const a = await runAll(raw.slice(0, half));
    const again = await ActivityModel.load(readFileSync(new URL('../../../cloud/model/activity-gru.onnx', import.meta.url)), { layout: featureLayout(parseFeatureConfig({ ...FEATURE_PRESETS.uplink, sampleRate: RATE })) });
    expect(a.engine.setModel(again)).toBe(true);
    expect(a.engine.currentModel).toBe(again);
    const rest = await runAll(raw.slice(half), a.engine);
    expect([...a.windows, ...rest.windows].map((w) => w.scores)).toEqual(whole.windows.map((w) => w.scores));
    // No model, then the model again: shapes differ from nothing, so every sensor starts afresh,
    // and the first window after that is classified as a fresh engine would.
    const b = await runAll(raw.slice(0, half));
    expect(b.engine.setModel(null)).toBe(false);
    expect(b.engine.setModel(again)).toBe(false);
    const snap = b.engine.snapshotSensor(raw[0]!.sensorId)!;
    expect(snap.modelState).toBeNull();
    await again.close();
  });
});
