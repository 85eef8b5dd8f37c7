// The archive's repeat check keeps the newest frame ids of a partition, and forgets the oldest.

import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../../cloud/store/archiver.js';

describe('RecentIds', () => {
  it('keeps the newest ids up to its bound, forgets the oldest first, and counts an id added again once', () => {
    const r = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'b']) r.add(id);
    expect(r.size).toBe(3);
    r.add('d');
    expect([r.has('a'), r.has('b'), r.has('c'), r.has('d')]).toEqual([false, true, true, true]);
  });

  it('over many ids, holds exactly the newest ones', () => {
    const r = new RecentIds(1000);
    for (let i = 0; i < 50_000; i++) r.add(`raw\u0000s${i % 97}\u0000${i}`);
    expect(r.size).toBe(1000);
    for (let i = 0; i < 50_000; i++) expect(r.has(`raw\u0000s${i % 97}\u0000${i}`)).toBe(i >= 49_000);
  });
});
