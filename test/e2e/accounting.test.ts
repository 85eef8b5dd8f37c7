// The end-to-end accounting checker on known inputs: it finds every lost, duplicated and
// unexpected frame, and says where by sensor and seq range.

import { describe, expect, it } from 'vitest';
import { account, describeReport, toRanges } from './accounting.js';

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('accounting checker', () => {
  it('folds seqs into ranges', () => {
    expect(toRanges([])).toEqual([]);
    expect(toRanges([1, 2, 3, 7, 9, 10])).toEqual([[1, 3], [7, 7], [9, 10]]);
    expect(toRanges([4, 4, 5])).toEqual([[4, 5]]);
  });

  it('exactly once: ok', () => {
    const sent = new Map([['a', range(0, 99)], ['b', range(5, 20)]]);
    const seen = [...range(0, 99).map((seq) => ({ sensorId: 'a', seq })), ...range(5, 20).reverse().map((seq) => ({ sensorId: 'b', seq }))];
    const r = account(sent, seen);
    expect(r).toMatchObject({ ok: true, sensors: 2, expected: 116, lost: 0, duplicated: 0, unexpected: 0, problems: [] });
  });

  it('names what is missing, duplicated and never sent, by sensor and range', () => {
    const sent = new Map([['a', range(0, 99)], ['b', range(0, 9)], ['c', [1, 2]]]);
    const seen = [
      ...range(0, 99).filter((s) => !(s >= 10 && s <= 19) && s !== 50).map((seq) => ({ sensorId: 'a', seq })),
      ...range(0, 9).map((seq) => ({ sensorId: 'b', seq })),
      { sensorId: 'b', seq: 3 }, { sensorId: 'b', seq: 4 }, { sensorId: 'b', seq: 4 },
      { sensorId: 'b', seq: 12 },
      { sensorId: 'z', seq: 0 },
    ];
    const r = account(sent, seen);
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({ sensors: 4, expected: 112, lost: 11 + 2, duplicated: 3, unexpected: 2 });
    expect(r.problems.map((p) => p.sensorId)).toEqual(['a', 'b', 'c', 'z']);
    expect(r.problems[0]).toMatchObject({ missing: [[10, 19], [50, 50]], duplicated: [], unexpected: [] });
    expect(r.problems[1]).toMatchObject({ missing: [], duplicated: [[3, 4]], extraCopies: 3, unexpected: [[12, 12]] });
    expect(r.problems[2]).toMatchObject({ missing: [[1, 2]], seen: 0 });
    expect(describeReport('inferences', r)).toBe(
      'inferences: 4 sensors, 112 frames sent; lost 13, duplicated 3, unexpected 2\n' +
        '  a: missing 10–19, 50\n' +
        '  b: duplicated 3–4 (3 extra); never sent 12\n' +
        '  c: missing 1–2\n' +
        '  z: never sent 0',
    );
  });
});
