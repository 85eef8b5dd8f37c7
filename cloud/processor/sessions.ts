// Cross-sensor sessions, per group. A session starts when at least `minSensors` sensors of the group
// have been active together for `startAfterS` seconds, and ends once no sensor of the group has been
// active for `idleGapS` seconds. A sensor is active while its latest window is: the model's class is
// one of `activeClasses` (everything but idle, by default), or a chosen feature is above a threshold.
// While it runs, a session aggregates every window of the group: per sensor and per label, windows and
// duration, the label histogram and dominant activity, and summary statistics of chosen features.
//
// Time is the windows' own (sample time, µs), never the clock, and the state is plain data: a
// replay of the same windows gives the same sessions, with the same ids, and the state can go to the
// changelog and come back.

export interface SessionOptions {
  minSensors: number;
  startAfterS: number;
  idleGapS: number;
  /** Classes that count as active (default: all but the first, idle). */
  activeClasses?: string[];
  /** Instead of classes: a feature above a threshold makes a window active. */
  activeFeature?: { name: string; above: number };
  /** Features summarised per sensor (count, mean, min, max, std). */
  summaries: string[];
  /**
   * At most one `updated` event per session per this many seconds of sample time. Each session's
   * updates keep a phase of their own, taken from its id (`updatePhaseUs`): the first comes up to
   * this long after `started`, then one every `updateEveryS`.
   */
  updateEveryS: number;
  /** A sensor's latest window counts for this long after its end (µs); then the sensor is idle. */
  staleUs: number;
  /**
   * A group that sends nothing more (sensors switched off, a gateway gone) has no window of its own
   * to end its session with: it is ended, as the idle gap would have, once the newest window of the
   * partition is `idleGapS + silentGraceS` past the session's last active moment (`endSilent`).
   * Omitted: such a session stays open until the group sends again.
   */
  silentGraceS?: number;
}

/** One classified window of one sensor. */
export interface Observation {
  sensorId: string;
  group: string;
  /** Window start and end, µs since the epoch. */
  t0: number;
  t1: number;
  /** Seconds the window adds (hop / sample rate). */
  stepS: number;
  label: string;
  score: number;
  /** Values of the features named in `summaries` (and `activeFeature`), by name. */
  features: Record<string, number>;
}

export interface Stat {
  n: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

export interface SensorAggregate {
  windows: number;
  durationS: number;
  labels: Record<string, number>;
  dominant: string;
  stats: Record<string, Stat>;
}

export interface Session {
  sessionId: string;
  group: string;
  status: 'active' | 'ended';
  /** µs: when the start condition began to hold, and (once ended) the last active moment. */
  start: number;
  end: number | null;
  windows: number;
  sensors: Record<string, SensorAggregate>;
  labels: Record<string, { windows: number; durationS: number }>;
  dominant: string;
  /** Sample time of the newest window counted (µs). */
  updatedAt: number;
}

export interface SessionEvent {
  type: 'started' | 'updated' | 'ended';
  session: Session;
}

/** Per group, plain data. */
export interface GroupState {
  /** Per sensor: end of its latest window, and whether that window was active. */
  latest: Record<string, { t1: number; active: boolean }>;
  /** When at least minSensors became active together (µs), while they stay so. */
  candidateSince: number | null;
  /** Last moment any sensor was active (µs). */
  lastActive: number | null;
  session: Session | null;
  lastUpdateEmit: number;
  pendingUpdate: boolean;
}

export function newGroupState(): GroupState {
  return { latest: {}, candidateSince: null, lastActive: null, session: null, lastUpdateEmit: 0, pendingUpdate: false };
}

/** The key with the largest value (ties: the smallest key). */
function argmax<T>(h: Record<string, T>, value: (t: T) => number): string {
  let best = '';
  let bestV = -1;
  for (const k in h) {
    const v = value(h[k]!);
    if (v > bestV || (v === bestV && k < best)) {
      best = k;
      bestV = v;
    }
  }
  return best;
}
const itself = (n: number) => n;
const windowsOf = (l: { windows: number }) => l.windows;

function isActive(o: Observation, opts: SessionOptions, classes: readonly string[]): boolean {
  if (opts.activeFeature) return (o.features[opts.activeFeature.name] ?? -Infinity) > opts.activeFeature.above;
  return opts.activeClasses ? opts.activeClasses.includes(o.label) : classes.indexOf(o.label) > 0;
}

function addStat(s: Stat | undefined, x: number): Stat {
  const t = s ?? { n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity };
  t.n++;
  const d = x - t.mean;
  t.mean += d / t.n;
  t.m2 += d * (x - t.mean);
  t.min = Math.min(t.min, x);
  t.max = Math.max(t.max, x);
  return t;
}

/** The standard deviation of a summary (population). */
export const statStd = (s: Stat): number => (s.n > 0 ? Math.sqrt(s.m2 / s.n) : 0);

function count(session: Session, o: Observation, opts: SessionOptions): void {
  session.windows++;
  session.updatedAt = Math.max(session.updatedAt, o.t1);
  const a = (session.sensors[o.sensorId] ??= { windows: 0, durationS: 0, labels: {}, dominant: o.label, stats: {} });
  a.windows++;
  a.durationS += o.stepS;
  a.labels[o.label] = (a.labels[o.label] ?? 0) + 1;
  a.dominant = argmax(a.labels, itself);
  for (const name of opts.summaries) {
    const v = o.features[name];
    if (v !== undefined && Number.isFinite(v)) a.stats[name] = addStat(a.stats[name], v);
  }
  const l = (session.labels[o.label] ??= { windows: 0, durationS: 0 });
  l.windows++;
  l.durationS += o.stepS;
  session.dominant = argmax(session.labels, windowsOf);
}

/** A number as JSON gives it back. */
const j = (v: number): number => (Number.isFinite(v) ? v + 0 : (null as unknown as number));

/**
 * A session as it stands, sharing nothing with the one that goes on counting: what
 * `JSON.parse(JSON.stringify(s))` gives (-0 becomes 0, a value overflowed to infinity null), at a
 * fraction of the cost (an event copies the aggregates of every sensor of its group).
 */
export function copySession(s: Session): Session {
  const sensors: Record<string, SensorAggregate> = {};
  for (const id in s.sensors) {
    const a = s.sensors[id]!;
    const labels: Record<string, number> = {};
    for (const l in a.labels) labels[l] = j(a.labels[l]!);
    const stats: Record<string, Stat> = {};
    for (const k in a.stats) {
      const t = a.stats[k]!;
      stats[k] = { n: j(t.n), mean: j(t.mean), m2: j(t.m2), min: j(t.min), max: j(t.max) };
    }
    sensors[id] = { windows: j(a.windows), durationS: j(a.durationS), labels, dominant: a.dominant, stats };
  }
  const labels: Record<string, { windows: number; durationS: number }> = {};
  for (const l in s.labels) labels[l] = { windows: j(s.labels[l]!.windows), durationS: j(s.labels[l]!.durationS) };
  return { sessionId: s.sessionId, group: s.group, status: s.status, start: j(s.start), end: s.end === null ? null : j(s.end), windows: j(s.windows), sensors, labels, dominant: s.dominant, updatedAt: j(s.updatedAt) };
}

/** Ends the group's running session at its last active moment. */
function endSession(g: GroupState): SessionEvent {
  const session = g.session!;
  session.status = 'ended';
  session.end = g.lastActive;
  g.session = null;
  g.candidateSince = null;
  g.pendingUpdate = false;
  return { type: 'ended', session: copySession(session) };
}

/**
 * Sample time (µs) from which the group's running session is ended although the group sent nothing
 * (`SessionOptions.silentGraceS`); null when it has no session, or silent groups are left open.
 */
export function silentDeadline(g: GroupState, opts: SessionOptions): number | null {
  if (!g.session || g.lastActive === null || opts.silentGraceS === undefined) return null;
  return g.lastActive + (opts.idleGapS + opts.silentGraceS) * 1e6;
}

/**
 * Ends the group's session when `horizon` (the newest window end of its partition, µs) is at or past
 * its silent deadline: the same end, at the last active moment, as a window of its own would have
 * made. A window of the group later than that starts afresh.
 */
export function endSilent(g: GroupState, horizon: number, opts: SessionOptions): SessionEvent | null {
  const due = silentDeadline(g, opts);
  return due !== null && horizon >= due ? endSession(g) : null;
}

/**
 * How far into its first interval a session's updates start, µs: a hash of its id (FNV-1a) in
 * [0, updateEveryS). Groups whose sessions start at the same moment (sensors switched on together, a
 * shift that begins on the hour) would otherwise send every `updated` event, each a document of
 * all the group's sensors, at the same instants for as long as they run, and the session store would
 * take them all at once. Taken from the id, the phase is the same in a replay and after a restore.
 */
export function updatePhaseUs(sessionId: string, updateEveryS: number): number {
  const every = Math.round(updateEveryS * 1e6);
  if (every <= 0) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) h = Math.imul(h ^ sessionId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % every;
}

/**
 * Takes one window of the group's sensor and returns the session events it causes (started,
 * updated, ended; a window can end one session, and windows are counted in the session they fall in).
 */
export function observe(g: GroupState, o: Observation, opts: SessionOptions, classes: readonly string[]): SessionEvent[] {
  const events: SessionEvent[] = [];
  const now = o.t1;
  const active = isActive(o, opts, classes);
  g.latest[o.sensorId] = { t1: o.t1, active };
  if (active) g.lastActive = Math.max(g.lastActive ?? now, now);

  // An idle gap long enough ends the running session, before this window is counted.
  if (g.session && g.lastActive !== null && now - g.lastActive >= opts.idleGapS * 1e6) events.push(endSession(g));

  // While a session runs its start time is set; otherwise count the sensors active together (this
  // runs for every window of every sensor: no arrays, and no further than the threshold).
  if (!g.session || g.candidateSince === null) {
    let together = 0;
    for (const id in g.latest) {
      const s = g.latest[id]!;
      if (s.active && now - s.t1 <= opts.staleUs && ++together >= opts.minSensors) break;
    }
    if (together >= opts.minSensors) g.candidateSince ??= o.t0;
    else if (!g.session) g.candidateSince = null;
  }

  if (!g.session && g.candidateSince !== null && now - g.candidateSince >= opts.startAfterS * 1e6) {
    const start = g.candidateSince;
    g.session = { sessionId: `${o.group}-${start}`, group: o.group, status: 'active', start, end: null, windows: 0, sensors: {}, labels: {}, dominant: '', updatedAt: now };
    g.lastUpdateEmit = now - updatePhaseUs(g.session.sessionId, opts.updateEveryS);
    count(g.session, o, opts);
    events.push({ type: 'started', session: copySession(g.session) });
    return events;
  }
  if (g.session) {
    count(g.session, o, opts);
    g.pendingUpdate = true;
    if (now - g.lastUpdateEmit >= opts.updateEveryS * 1e6) {
      g.lastUpdateEmit = now;
      g.pendingUpdate = false;
      events.push({ type: 'updated', session: copySession(g.session) });
    }
  }
  return events;
}
