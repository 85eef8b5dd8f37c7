import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeqStore } from '../../edge/seq-store.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-seq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SeqStore', () => {
  it('counts per sensor and never repeats a number after a restart without a clean close', () => {
    const path = join(dir, 'seq.json');
    const a = SeqStore.open(path, 10);
    const first = Array.from({ length: 13 }, () => a.take('s1'));
    expect(first).toEqual([...Array(13).keys()]);
    expect(a.take('s2')).toBe(0);
    a.commit();
    // A new process: s1 had reserved up to 20, s2 up to 10.
    const b = SeqStore.open(path, 10);
    expect(b.take('s1')).toBe(20);
    expect(b.take('s2')).toBe(10);
    expect(b.take('s3')).toBe(0);
    b.commit();
    // Taken but never committed (a crash before the frames were stored): reusing those is safe.
    const c = SeqStore.open(path, 10);
    expect(c.take('s1')).toBe(30);
    expect(c.take('s4')).toBe(0);
    expect(SeqStore.open(path, 10).take('s4')).toBe(0);
  });

  it('after a clean close, continues exactly where it stopped, and the file says how many each sensor took', () => {
    const path = join(dir, 'clean.json');
    const a = SeqStore.open(path, 10);
    for (let i = 0; i < 13; i++) a.take('s1');
    a.take('s2');
    a.commit();
    a.close();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ s1: 13, s2: 1 });
    const b = SeqStore.open(path, 10);
    expect(b.take('s1')).toBe(13);
    expect(b.take('s2')).toBe(1);
  });

  it('starts over from a missing or unreadable file', () => {
    const path = join(dir, 'sub', 'seq.json');
    expect(SeqStore.open(path).take('x')).toBe(0);
  });
});
