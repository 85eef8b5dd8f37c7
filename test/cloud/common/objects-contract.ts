// The object store contract the archive relies on, run against an S3 API (MinIO,
// objects-contract.int.test.ts) and a directory (objects.test.ts): a put replaces the object of its
// key whole, get gives its bytes, list gives the keys under a prefix in key order and nothing else.

import { expect, it } from 'vitest';
import type { ObjectStore } from '../../../cloud/common/objects.js';

export function objectsContract(open: () => Promise<ObjectStore>): void {
  it('put, get and replace; list under a prefix in key order, nothing outside it', async () => {
    const store = await open();
    const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
    await store.put('raw/date=2026-11-25/hour=08/group=g1/b.parquet', bytes(10, 1), 'application/vnd.apache.parquet');
    await store.put('raw/date=2026-11-25/hour=08/group=g1/a.parquet', bytes(20, 2), 'application/vnd.apache.parquet');
    await store.put('raw/date=2026-11-25/hour=09/group=g1/c.parquet', bytes(30, 3), 'application/vnd.apache.parquet');
    await store.put('features/date=2026-11-25/hour=08/group=g2/d.parquet', bytes(40, 4), 'application/vnd.apache.parquet');
    expect(await store.list('raw/date=2026-11-25/hour=08/')).toEqual(['raw/date=2026-11-25/hour=08/group=g1/a.parquet', 'raw/date=2026-11-25/hour=08/group=g1/b.parquet']);
    expect(await store.list('features/')).toEqual(['features/date=2026-11-25/hour=08/group=g2/d.parquet']);
    expect(await store.list('nothing/')).toEqual([]);
    expect(await store.list('')).toHaveLength(4);
    expect(await store.get('raw/date=2026-11-25/hour=09/group=g1/c.parquet')).toEqual(bytes(30, 3));
    // A put of the same key replaces the object whole.
    await store.put('raw/date=2026-11-25/hour=08/group=g1/a.parquet', bytes(5, 9), 'application/vnd.apache.parquet');
    expect(await store.get('raw/date=2026-11-25/hour=08/group=g1/a.parquet')).toEqual(bytes(5, 9));
    expect(await store.list('raw/date=2026-11-25/hour=08/')).toHaveLength(2);
    await expect(store.get('raw/none.parquet')).rejects.toThrow();
  });
}
