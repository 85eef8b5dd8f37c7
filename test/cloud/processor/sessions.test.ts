// Cross-sensor sessions: they start and end by the rules, aggregate what they should, throttle their
// updates, and come out the same from a replay or from state saved and restored midway.

import { describe, expect, it } from 'vitest';
import { copySession, endSilent, newGroupState, observe, silentDeadline, statStd, updatePhaseUs, type GroupState, type Observation, type SessionEvent, type SessionOptions } from '../../../cloud/processor/sessions.js';

const CLASSES = ['idle', 'walking', 'running', 'jumping', 'fall'];
const opts: SessionOptions = { minSensors: 2, startAfterS: 5, idleGapS: 10, summaries: ['acc.mag_std'], updateEveryS: 10, staleUs: 3_000_000 };
const STEP = 1.28;
const T0 = 1_795_000_000_000_000;

/** Windows of `sensors`, every STEP s for `seconds`, each labelled by `label(sensor, t)`. */
function windows(sensors: string[], seconds: number, label: (s: string, t: number) => string): Observation[] {
  const out: Observation[] = [];
  for (let t = 0; t + STEP <= seconds; t += STEP) {
    for (const s of sensors) {
      const l = label(s, t);
      out.push({ sensorId: s, group: 'g1', t0: T0 + Math.round(t * 1e6), t1: T0 + Math.round((t + STEP) * 1e6), stepS: STEP, label: l, score: 0.9, features: { 'acc.mag_std': l === 'idle' ? 0.05 : 2 + (t % 3) } });
    }
  }
  return out;
}

function feed(obs: Observation[], g: GroupState = newGroupState(), o = opts): SessionEvent[] {
  return obs.flatMap((x) => observe(g, x, o, CLASSES));
}

describe('sessions', () => {
  const walkTogether = windows(['a', 'b', 'c'], 120, (s, t) => (s !== 'c' && t >= 20 && t < 80 ? 'walking' : 'idle'));

  it('start after minSensors are active for startAfterS, end after idleGapS without activity, with the aggregates', () => {
    const ev = feed(walkTogether);
    const types = ev.map((e) => e.type);
    expect(types[0]).toBe('started');
    expect(types.at(-1)).toBe('ended');
    expect(types.filter((t) => t === 'started' || t === 'ended')).toEqual(['started', 'ended']);
    const end = ev.at(-1)!.session;
    expect(end.sessionId).toBe(`g1-${end.start}`);
    // Started where two sensors became active together (about 20 s in), ended at the last active window's end (about 80 s).
    expect((end.start - T0) / 1e6).toBeCloseTo(20.48, 1);
    expect((end.end! - T0) / 1e6).toBeGreaterThan(79);
    expect((end.end! - T0) / 1e6).toBeLessThan(81.5);
    expect(end.status).toBe('ended');
    expect(end.dominant).toBe('walking');
    expect(Object.keys(end.sensors).sort()).toEqual(['a', 'b', 'c']);
    expect(end.sensors.a!.dominant).toBe('walking');
    expect(end.sensors.c!.dominant).toBe('idle');
    expect(end.sensors.c!.labels).toEqual({ idle: end.sensors.c!.windows });
    const s = end.sensors.a!.stats['acc.mag_std']!;
    expect(s.n).toBe(end.sensors.a!.windows);
    expect(s.min).toBeLessThanOrEqual(s.mean);
    expect(statStd(s)).toBeGreaterThan(0);
    expect(end.windows).toBe(Object.values(end.sensors).reduce((n, a) => n + a.windows, 0));
    expect(end.labels.walking!.durationS).toBeCloseTo(end.labels.walking!.windows * STEP, 6);
  });

  it('a group that sends nothing more: its session is ended at its last active moment once the horizon is idleGapS + silentGraceS past it, as a window of its own would have ended it', () => {
    // The sensors stop sending at 60 s, in the middle of a session.
    const upTo60 = walkTogether.filter((o) => o.t1 <= T0 + 60e6);
    const silent = { ...opts, silentGraceS: 20 };
    const g = newGroupState();
    expect(feed(upTo60, g, silent).map((e) => e.type)).toContain('started');
    const due = silentDeadline(g, silent)!;
    expect(due).toBe(g.lastActive! + 30e6);
    expect(endSilent(g, due - 1, silent)).toBeNull();
    expect(g.session?.status).toBe('active');
    const ended = endSilent(g, due, silent)!;
    expect(ended.type).toBe('ended');
    expect(g.session).toBeNull();
    expect(silentDeadline(g, silent)).toBeNull();
    // The same session as one ended by an idle window of its own after the same windows.
    const h = newGroupState();
    feed(upTo60, h, silent);
    const byWindow = feed([{ ...upTo60.at(-1)!, label: 'idle', t0: due - 1.28e6, t1: due }], h, silent).find((e) => e.type === 'ended')!;
    expect(ended.session).toEqual(byWindow.session);
    expect((ended.session.end! - T0) / 1e6).toBeCloseTo(58.88, 2); // the end of the last window before 60 s
    // Without silentGraceS, nothing ends it.
    const k = newGroupState();
    feed(upTo60, k);
    expect(silentDeadline(k, opts)).toBeNull();
    expect(endSilent(k, Number.MAX_SAFE_INTEGER, opts)).toBeNull();
  });

  it('no session with fewer than minSensors active, or active for less than startAfterS', () => {
    expect(feed(windows(['a', 'b', 'c'], 60, (s, t) => (s === 'a' && t > 10 ? 'running' : 'idle')))).toEqual([]);
    expect(feed(windows(['a', 'b'], 60, (_s, t) => (t >= 10 && t < 13 ? 'running' : 'idle')))).toEqual([]);
  });

  it('updates are throttled to one per updateEveryS of sample time', () => {
    const ev = feed(walkTogether);
    const updates = ev.filter((e) => e.type === 'updated');
    expect(updates.length).toBeGreaterThan(2);
    expect(updates.length).toBeLessThanOrEqual(Math.ceil(60 / opts.updateEveryS) + 1);
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.session.updatedAt - updates[i - 1]!.session.updatedAt).toBeGreaterThanOrEqual(opts.updateEveryS * 1e6);
  });

  it("sessions that start together send their updates at phases of their own, taken from their ids", () => {
    // Eight groups whose sensors all start at the same moment, as after a shift change.
    const groups = Array.from({ length: 8 }, (_, i) => `line-${i}`);
    const firstUpdate = groups.map((group) => {
      const ev = feed(walkTogether.map((o) => ({ ...o, group })));
      const started = ev.find((e) => e.type === 'started')!.session;
      const updates = ev.filter((e) => e.type === 'updated').map((e) => e.session.updatedAt);
      const phase = updatePhaseUs(started.sessionId, opts.updateEveryS);
      expect(phase).toBeGreaterThanOrEqual(0);
      expect(phase).toBeLessThan(opts.updateEveryS * 1e6);
      // The first update is the first window at least (updateEveryS - phase) after the start.
      const due = started.updatedAt + opts.updateEveryS * 1e6 - phase;
      expect(updates[0]).toBeGreaterThanOrEqual(due);
      expect(updates[0]! - due).toBeLessThan(STEP * 1e6);
      for (let i = 1; i < updates.length; i++) expect(updates[i]! - updates[i - 1]!).toBeGreaterThanOrEqual(opts.updateEveryS * 1e6);
      return updates[0]!;
    });
    // Not all at the same instant: at least four different windows among the eight.
    expect(new Set(firstUpdate).size).toBeGreaterThanOrEqual(4);
    expect(updatePhaseUs('line-0-1', 0)).toBe(0);
    expect(updatePhaseUs('line-0-1', 10)).toBe(updatePhaseUs('line-0-1', 10));
  });

  it('the same windows give the same sessions; state saved and restored midway changes nothing', () => {
    const whole = feed(walkTogether);
    expect(feed(walkTogether)).toEqual(whole);
    const g = newGroupState();
    const half = Math.floor(walkTogether.length / 2);
    const first = feed(walkTogether.slice(0, half), g);
    const restored = JSON.parse(JSON.stringify(g)) as GroupState;
    expect([...first, ...feed(walkTogether.slice(half), restored)]).toEqual(whole);
  });

  it('an event\'s session is what a JSON round trip of the running one gives, and shares nothing with it', () => {
    // Odd values too: -0, and values large enough that the sums of squares overflow (no float32 feature is).
    const odd = windows(['a', 'b', 'c'], 60, (s, t) => (t >= 5 && s !== 'c' ? 'running' : 'idle')).map((o, i) => ({ ...o, features: { 'acc.mag_std': [-0, 1e300, -1e300][Math.floor(i / 3) % 3]! } }));
    const g = newGroupState();
    let checked = 0;
    for (const o of odd) {
      observe(g, o, opts, CLASSES);
      if (!g.session) continue;
      const live = g.session;
      const c = copySession(live);
      expect(JSON.stringify(c)).toBe(JSON.stringify(live));
      expect(c).toStrictEqual(JSON.parse(JSON.stringify(live)));
      expect(Object.is(c.sensors.a!.stats['acc.mag_std']?.min, -0)).toBe(false);
      // Counting goes on in the live session only.
      const before = JSON.stringify(c);
      live.sensors.a!.windows += 1000;
      live.sensors.a!.labels.running = -1;
      live.labels.running!.windows += 1000;
      if (live.sensors.a!.stats['acc.mag_std']) live.sensors.a!.stats['acc.mag_std'].n += 1000;
      expect(JSON.stringify(c)).toBe(before);
      checked++;
      break;
    }
    expect(checked).toBe(1);
    // A whole run's events are the same as with the JSON copy.
    const events = feed(odd);
    expect(events.length).toBeGreaterThan(1);
    for (const e of events) expect(e.session).toStrictEqual(JSON.parse(JSON.stringify(e.session)));
    const m2 = events.at(-1)!.session.sensors.a!.stats['acc.mag_std']!.m2;
    expect(m2).toBeNull();
  });

  it('a feature threshold can define activity instead of the classes', () => {
    const ev = feed(walkTogether, newGroupState(), { ...opts, activeFeature: { name: 'acc.mag_std', above: 1 } });
    expect(ev.map((e) => e.type).filter((t) => t !== 'updated')).toEqual(['started', 'ended']);
  });
});
