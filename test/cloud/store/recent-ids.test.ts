// The archive's repeat check keeps the newest frame ids of a partition, and forgets the oldest.

import { describe, expect, it } from 'vitest';
import { FrameSet, RecentIds, type FrameKey } from '../../../cloud/store/archiver.js';

const raw = (sensorId: string, seq: number): FrameKey => ({ kind: 'raw', sensorId, seq });

describe('RecentIds', () => {
  it('keeps the newest ids up to its bound, forgets the oldest first, and counts an id added again once', () => {
    const r = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'b']) r.add(raw(id, 1));
    expect(r.size).toBe(3);
    r.add(raw('d', 1));
    expect([r.has(raw('a', 1)), r.has(raw('b', 1)), r.has(raw('c', 1)), r.has(raw('d', 1))]).toEqual([false, true, true, true]);
  });

  it('over many ids, holds exactly the newest ones', () => {
    const r = new RecentIds(1000);
    for (let i = 0; i < 50_000; i++) r.add(raw(`s${i % 97}`, i));
    expect(r.size).toBe(1000);
    for (let i = 0; i < 50_000; i++) expect(r.has(raw(`s${i % 97}`, i))).toBe(i >= 49_000);
  });
});

describe('FrameSet', () => {
  it('tells frames apart by kind, sensor and sequence number', () => {
    const s = new FrameSet();
    expect(s.add(raw('s1', 7))).toBe(true);
    expect(s.add(raw('s1', 7))).toBe(false);
    expect(s.add({ kind: 'features', sensorId: 's1', seq: 7 })).toBe(true);
    expect(s.add(raw('s2', 7))).toBe(true);
    expect(s.add(raw('s1', 8))).toBe(true);
    expect(s.size).toBe(4);
    expect([s.has(raw('s1', 7)), s.has(raw('s1', 9)), s.has({ kind: 'features', sensorId: 's2', seq: 7 })]).toEqual([true, false, false]);
    s.deleteSeq(true, 's1', 7);
    s.deleteSeq(true, 's1', 7);
    expect(s.size).toBe(3);
    expect([s.has(raw('s1', 7)), s.has({ kind: 'features', sensorId: 's1', seq: 7 })]).toEqual([false, true]);
  });
});
