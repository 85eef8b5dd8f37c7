// The archive's directory store (the embedded mode's ./data/archive) against the object store
// contract that an S3 API passes too (objects-contract.int.test.ts); keys that would leave the
// directory are refused.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirObjects, openObjects } from '../../../cloud/common/objects.js';
import { objectsContract } from './objects-contract.js';

const root = mkdtempSync(join(tmpdir(), 'edgewave-objects-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

describe('directory objects: the object store contract', () => {
  objectsContract(async () => new DirObjects(join(root, `c${++n}`)));
});

describe('directory objects', () => {
  it('refuses keys that would leave the directory, opens file:// URLs, and leaves no temporary files', async () => {
    const dir = join(root, 'x');
    const store = openObjects(`file://${dir}`, () => {
      throw new Error('no S3 for a directory');
    });
    expect(store.url).toBe(`file://${dir}`);
    await expect(store.put('../escape', new Uint8Array(1), 'x')).rejects.toThrow(/not an object key/);
    await expect(store.put('a//b', new Uint8Array(1), 'x')).rejects.toThrow(/not an object key/);
    await store.put('a/b', new Uint8Array([1, 2]), 'x');
    expect(readdirSync(join(dir, 'a'))).toEqual(['b']);
  });
});
