// The processor's per-sensor sequencer: each seq once, in order, whatever the arrival order within
// its allowance; a missing seq given up on only past the allowance, and the same way every time.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flush, newSequence, offer, type Sequenced, type SequencerOptions } from '../../../cloud/processor/sequencer.js';

const o: SequencerOptions = { maxPending: 8, maxSpanUs: 5_000_000 };
const frame = (seq: number): Sequenced<string> => ({ seq, t0: seq * 50_000, item: `f${seq}` });

function run(arrivals: number[], opts = o) {
  const s = newSequence<string>();
  const out: number[] = [];
  let duplicates = 0;
  let skipped = 0;
  for (const seq of arrivals) {
    const r = offer(s, frame(seq), opts);
    out.push(...r.ready.map((x) => x.seq));
    if (r.duplicate) duplicates++;
    skipped += r.skipped;
  }
  const end = flush(s);
  out.push(...end.ready.map((x) => x.seq));
  return { out, duplicates, skipped: skipped + end.skipped, state: s };
}

describe('sequencer', () => {
  it('in order: each frame goes on at once, from seq 0', () => {
    const s = newSequence<string>();
    for (let i = 0; i < 5; i++) expect(offer(s, frame(i), o).ready.map((x) => x.seq)).toEqual([i]);
  });

  it('swapped neighbours and repeats within the allowance: each seq once, in order, nothing skipped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 0, max: 1000 }), (n, seed, start) => {
        // Each frame moves at most 3 places; some come twice (a redelivery), later.
        let x = seed;
        const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        const seqs = Array.from({ length: n }, (_, i) => start + i);
        const keyed = seqs.map((q, i) => ({ q, k: i + rand() * 3 }));
        const arrivals = keyed.sort((a, b) => a.k - b.k).map((a) => a.q);
        for (let i = 0; i < n / 10; i++) {
          const q = seqs[Math.floor(rand() * n)]!;
          const at = arrivals.indexOf(q);
          arrivals.splice(at + 1 + Math.floor(rand() * (arrivals.length - at)), 0, q);
        }
        const r = run(arrivals);
        expect(r.out).toEqual(seqs);
        expect(r.skipped).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('a frame older than what went on is a duplicate, even after a restart from saved state', () => {
    const first = run([0, 1, 2, 3]);
    const saved = JSON.parse(JSON.stringify(first.state));
    const r = offer(saved, frame(2), o);
    expect(r.duplicate).toBe(true);
    expect(offer(saved, frame(4), o).ready.map((x) => x.seq)).toEqual([4]);
  });

  it('a missing seq is waited for, then given up on past maxPending frames, counted, the same way on every run', () => {
    const arrivals = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    const a = run(arrivals);
    expect(a.out).toEqual(arrivals);
    expect(a.skipped).toBe(1);
    // Nothing after the gap goes on before the allowance runs out.
    const s = newSequence<string>();
    const seen: number[] = [];
    for (const q of arrivals) {
      seen.push(...offer(s, frame(q), o).ready.map((x) => x.seq));
      if (q >= 3 && q <= 10) expect(seen).toEqual([0, 1]);
    }
    expect(run(arrivals)).toEqual(a);
  });

  it('a missing seq is given up on once the held frames span more than maxSpanUs of sample time', () => {
    const s = newSequence<string>();
    offer(s, frame(0), o);
    expect(offer(s, { seq: 2, t0: 100_000, item: 'x' }, o).ready).toEqual([]);
    const r = offer(s, { seq: 3, t0: 100_000 + o.maxSpanUs + 1, item: 'y' }, o);
    expect(r.ready.map((x) => x.seq)).toEqual([2, 3]);
    expect(r.skipped).toBe(1);
  });

  it('a new sensor starts at the lowest seq offered within the allowance, not the first to arrive', () => {
    expect(run([41, 40, 42, 43]).out).toEqual([40, 41, 42, 43]);
    expect(run([41, 40, 42, 43]).skipped).toBe(0);
  });
});
