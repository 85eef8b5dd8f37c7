// The processor's per-stream sequencer: each stretch of sample time once, in order, whatever the
// arrival order within its allowance; a missing frame given up on only past the allowance, the same
// way every time; a gap the edge flagged is no reason to wait.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flush, newSequence, offer, type Sequenced, type SequencerOptions } from '../../../cloud/processor/sequencer.js';

const o: SequencerOptions = { maxPending: 8, maxSpanUs: 5_000_000 };
const US = 50_000; // 10 samples at 200 Hz per frame
/** Frame k covers [k, k+1) * 50 ms. */
const frame = (k: number, gap = false): Sequenced<number> => ({ start: k * US, end: (k + 1) * US, gap, tolerance: 2500, item: k, first: k === 0 });

function run(arrivals: Sequenced<number>[], opts = o) {
  const s = newSequence<number>();
  const out: number[] = [];
  let duplicates = 0;
  let skipped = 0;
  for (const f of arrivals) {
    const r = offer(s, f, opts);
    out.push(...r.ready.map((x) => x.item));
    if (r.duplicate) duplicates++;
    skipped += r.skipped;
  }
  const end = flush(s);
  out.push(...end.ready.map((x) => x.item));
  return { out, duplicates, skipped: skipped + end.skipped, state: s };
}

describe('sequencer', () => {
  it('in order from the first frame: each goes on at once', () => {
    const s = newSequence<number>();
    for (let k = 0; k < 5; k++) expect(offer(s, frame(k), o).ready.map((x) => x.item)).toEqual([k]);
  });

  it('swapped neighbours and repeats within the allowance: each frame once, in order, nothing skipped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 0, max: 1000 }), (n, seed, start) => {
        let x = seed;
        const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        const ks = Array.from({ length: n }, (_, i) => start + i);
        // Each frame moves at most 3 places; some come again later (a redelivery).
        const arrivals = ks.map((k, i) => ({ k, at: i + rand() * 3 })).sort((a, b) => a.at - b.at).map((a) => a.k);
        for (let i = 0; i < n / 10; i++) {
          const k = ks[Math.floor(rand() * n)]!;
          const at = arrivals.indexOf(k);
          arrivals.splice(at + 1 + Math.floor(rand() * (arrivals.length - at)), 0, k);
        }
        const r = run(arrivals.map((k) => frame(k)));
        expect(r.out).toEqual(ks);
        expect(r.skipped).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('a frame already covered is a duplicate, also after a restart from saved state', () => {
    const first = run([0, 1, 2, 3].map((k) => frame(k)));
    const saved = JSON.parse(JSON.stringify(first.state));
    expect(offer(saved, frame(2), o).duplicate).toBe(true);
    expect(offer(saved, frame(4), o).ready.map((x) => x.item)).toEqual([4]);
  });

  it('a missing frame is waited for, then given up on past maxPending frames, counted, the same way every run', () => {
    const arrivals = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((k) => frame(k));
    const a = run(arrivals);
    expect(a.out).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(a.skipped).toBe(1);
    const s = newSequence<number>();
    const seen: number[] = [];
    for (const f of arrivals) {
      seen.push(...offer(s, f, o).ready.map((x) => x.item));
      if (f.item >= 3 && f.item <= 10) expect(seen).toEqual([0, 1]);
    }
    expect(run(arrivals)).toEqual(a);
  });

  it('a missing frame is given up on once the held frames span more than maxSpanUs', () => {
    const s = newSequence<number>();
    offer(s, frame(0), o);
    expect(offer(s, frame(2), o).ready).toEqual([]);
    const far = 2 + o.maxSpanUs / US + 1;
    const r = offer(s, frame(far), o);
    // Frame 1 is given up on; the stretch between 2 and `far` is missing too, so `far` waits in turn.
    expect(r.ready.map((x) => x.item)).toEqual([2]);
    expect(r.skipped).toBe(1);
    expect(s.pending.map((p) => p.item)).toEqual([far]);
  });

  it('a gap the edge flagged goes on at once', () => {
    const s = newSequence<number>();
    offer(s, frame(0), o);
    const r = offer(s, frame(40, true), o);
    expect(r.ready.map((x) => x.item)).toEqual([40]);
    expect(r.skipped).toBe(0);
  });

  it('a new stream not starting at seq 0 waits within the allowance, then starts at its earliest frame', () => {
    const r = run([41, 40, 42, 43].map((k) => ({ ...frame(k), first: false })));
    expect(r.out).toEqual([40, 41, 42, 43]);
    expect(r.skipped).toBe(0);
  });
});
