// Per-sensor order and de-duplication, the processor's first step. Frames arrive keyed by group,
// mostly in seq order, but not always: QoS 1 redelivery, a bridge retry or an edge replay can bring
// a frame twice, and two bridges can swap neighbours. The sequencer hands frames on in seq order,
// each (sensorId, seq) once.
//
// Every decision depends only on the frames, in the order they come, never on the clock, so a
// replay of the same input makes the same decisions (the processor's outputs, and the sessions
// built on them, must equal those of an uninterrupted run). A missing seq is waited for while fewer
// than `maxPending` frames are held and they span less than `maxSpanUs` of sample time; then the
// sequencer gives up on it, counts it as a gap and goes on. A sensor seen for the first time starts
// at the lowest seq it is offered within that same allowance, so an early frame overtaken by a later
// one still counts.

export interface SequencerOptions {
  /** Most frames held per sensor while a missing seq is awaited. */
  maxPending: number;
  /** Most sample time (µs, by t0) between the first held frame and the newest before giving up on a missing seq. */
  maxSpanUs: number;
}

export interface Sequenced<T> {
  seq: number;
  t0: number;
  item: T;
}

/** What the sequencer keeps per sensor; plain data, so it can go to the state changelog. */
export interface SensorSequence<T> {
  /** The next seq to hand on; -1 before the sensor's first frame is handed on. */
  next: number;
  pending: Sequenced<T>[];
}

export interface OfferResult<T> {
  /** Frames to process now, in seq order. */
  ready: Sequenced<T>[];
  duplicate: boolean;
  /** Seqs given up on (missing), if any. */
  skipped: number;
}

export function newSequence<T>(): SensorSequence<T> {
  return { next: -1, pending: [] };
}

/**
 * Offers one frame of a sensor. Returns what can be handed on now (possibly nothing, while a
 * missing seq is awaited), whether the frame was a duplicate, and how many seqs were given up on.
 */
export function offer<T>(s: SensorSequence<T>, frame: Sequenced<T>, o: SequencerOptions): OfferResult<T> {
  const out: OfferResult<T> = { ready: [], duplicate: false, skipped: 0 };
  if ((s.next >= 0 && frame.seq < s.next) || s.pending.some((p) => p.seq === frame.seq)) {
    out.duplicate = true;
    return out;
  }
  // Held frames stay sorted by seq.
  let i = s.pending.length;
  while (i > 0 && s.pending[i - 1]!.seq > frame.seq) i--;
  s.pending.splice(i, 0, frame);
  drain(s, out, o);
  return out;
}

function drain<T>(s: SensorSequence<T>, out: OfferResult<T>, o: SequencerOptions): void {
  for (;;) {
    const head = s.pending[0];
    if (!head) return;
    if (head.seq === s.next) {
      out.ready.push(s.pending.shift()!);
      s.next++;
      continue;
    }
    // A new sensor's seq 0 has nothing before it.
    if (s.next < 0 && head.seq === 0) {
      s.next = 0;
      continue;
    }
    // The head is ahead of `next` (or the sensor is new): wait, within the allowance.
    const newest = s.pending.reduce((m, p) => Math.max(m, p.t0), -Infinity);
    const waited = s.pending.length > o.maxPending || newest - head.t0 > o.maxSpanUs;
    if (!waited) return;
    if (s.next >= 0) out.skipped += head.seq - s.next;
    s.next = head.seq;
  }
}

/** Hands on everything held, in order, giving up on what is missing (at the end of a replay, or when told to). */
export function flush<T>(s: SensorSequence<T>): OfferResult<T> {
  const out: OfferResult<T> = { ready: [], duplicate: false, skipped: 0 };
  while (s.pending.length) {
    const head = s.pending.shift()!;
    if (s.next >= 0) out.skipped += head.seq - s.next;
    out.ready.push(head);
    s.next = head.seq + 1;
  }
  return out;
}
