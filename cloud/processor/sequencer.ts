// Per-stream order and de-duplication, the processor's first step. A stream is one sensor's raw
// frames, or its feature frames: each covers a stretch of sample time (raw: its samples; features:
// its windows' hops), and a stream's frames follow each other without overlap. Frames arrive mostly
// in order, but not always: QoS 1 redelivery, a bridge retry or an edge replay can bring one twice,
// and two bridges can swap neighbours. The sequencer hands each stream's frames on in time order,
// each stretch once.
//
// Sequence numbers cannot tell a late frame from a duplicate here: a sensor's seqs count all its
// frames, raw and features together, and the edge may drop raw frames at its outbox bound, so one
// kind's seqs have holes by design. Sample time can: a frame that starts where the stream ends is
// next; one that ends before is a duplicate; one that starts later is either after a gap the edge
// flagged (FLAG_GAP), or after a frame still on its way, which is waited for while fewer than
// `maxPending` frames are held and they span less than `maxSpanUs`; then it is given up on, and
// counted. Every decision depends only on the frames and their order, never on the clock, so a
// replay of the same input makes the same decisions.

export interface SequencerOptions {
  /** Most frames held per stream while a missing stretch is awaited. */
  maxPending: number;
  /** Most sample time (µs) between the first held frame and the newest before giving up on a missing stretch. */
  maxSpanUs: number;
}

export interface Sequenced<T> {
  /** The stretch of sample time the frame covers, µs: [start, end). */
  start: number;
  end: number;
  /** The edge says samples are missing just before this frame. */
  gap: boolean;
  /** How far two frames' edges may differ and still meet (half a sample), µs. */
  tolerance: number;
  /** Nothing can come before this frame (a sensor's seq 0), so a new stream need not wait. */
  first?: boolean;
  item: T;
}

/** What the sequencer keeps per stream; plain data, so it can go to the state changelog. */
export interface StreamSequence<T> {
  /** Where the handed-on frames end (µs); null before the stream's first frame is handed on. */
  end: number | null;
  pending: Sequenced<T>[];
}

export interface OfferResult<T> {
  /** Frames to process now, in time order. */
  ready: Sequenced<T>[];
  duplicate: boolean;
  /** Stretches given up on (a frame missing before the next one handed on). */
  skipped: number;
}

export function newSequence<T>(): StreamSequence<T> {
  return { end: null, pending: [] };
}

/** Offers one frame of the stream; returns what can go on now (possibly nothing, while a missing stretch is awaited). */
export function offer<T>(s: StreamSequence<T>, frame: Sequenced<T>, o: SequencerOptions): OfferResult<T> {
  // The usual case, first: nothing held and the frame starts where the stream ends.
  if (s.pending.length === 0 && s.end !== null && frame.end > frame.start && frame.end > s.end + frame.tolerance && Math.abs(frame.start - s.end) <= frame.tolerance) {
    s.end = frame.end;
    return { ready: [frame], duplicate: false, skipped: 0 };
  }
  const out: OfferResult<T> = { ready: [], duplicate: false, skipped: 0 };
  const covered = (f: Sequenced<T>) => f.end <= f.start || (s.end !== null && f.end <= s.end + f.tolerance);
  if (covered(frame) || s.pending.some((p) => Math.abs(p.start - frame.start) <= frame.tolerance)) {
    out.duplicate = true;
    return out;
  }
  let i = s.pending.length;
  while (i > 0 && s.pending[i - 1]!.start > frame.start) i--;
  s.pending.splice(i, 0, frame);
  drain(s, out, o);
  return out;
}

function drain<T>(s: StreamSequence<T>, out: OfferResult<T>, o: SequencerOptions): void {
  for (;;) {
    const head = s.pending[0];
    if (!head) return;
    if (s.end !== null && head.end <= s.end + head.tolerance) {
      // Covered meanwhile (a frame that overlaps what went on): nothing new in it.
      s.pending.shift();
      out.duplicate = true;
      continue;
    }
    const next = s.end === null ? head.first === true : Math.abs(head.start - s.end) <= head.tolerance || (head.gap && head.start >= s.end - head.tolerance);
    if (!next) {
      // A new stream, or a stretch missing before the head: wait, within the allowance.
      const newest = s.pending[s.pending.length - 1]!.start;
      const waited = s.pending.length > o.maxPending || newest - head.start > o.maxSpanUs;
      if (!waited) return;
      if (s.end !== null) out.skipped++;
    }
    out.ready.push(s.pending.shift()!);
    s.end = head.end;
  }
}

/** Hands on everything held, in order, giving up on what is missing (the end of a replay). */
export function flush<T>(s: StreamSequence<T>): OfferResult<T> {
  const out: OfferResult<T> = { ready: [], duplicate: false, skipped: 0 };
  while (s.pending.length) {
    const head = s.pending.shift()!;
    if (s.end !== null && head.end <= s.end + head.tolerance) continue;
    if (s.end !== null && Math.abs(head.start - s.end) > head.tolerance && !head.gap) out.skipped++;
    out.ready.push(head);
    s.end = head.end;
  }
  return out;
}
