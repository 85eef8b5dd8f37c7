// `edgewave api` refuses a bad config, or a malformed keys directory entry, naming what is wrong
// (exit 2); `edgewave api hash-key` prints a new key and the digest the config keeps.

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-api-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const edgewave = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/edgewave.js'), ...args], { encoding: 'utf8', timeout: 60_000 });

describe('edgewave api', () => {
  it('a bad config: exit 2 naming the fields', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'mongodb:\n  url: http://db\nauth:\n  keys:\n    - { id: "a b", sha256: abc, scopes: [write] }\nhttp:\n  port: 70000\n');
    const r = edgewave('api', '--config', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mongodb\.url: a mongodb:\/\/ URL/);
    expect(r.stderr).toMatch(/auth\.keys\.0\.id/);
    expect(r.stderr).toMatch(/auth\.keys\.0\.sha256: a SHA-256 hex digest/);
    expect(r.stderr).toMatch(/auth\.keys\.0\.scopes\.0/);
    expect(r.stderr).toMatch(/http\.port/);
    // Without mongodb: the command needs to know where the sessions are.
    const none = join(dir, 'none.yaml');
    writeFileSync(none, 'http:\n  port: 0\n');
    const n = edgewave('api', '--config', none);
    expect(n.status).toBe(2);
    expect(n.stderr).toMatch(/mongodb: .*expected object.*where the sessions are/);
  });

  it('a keys directory entry that is not "<scopes>:<sha256>": exit 2 naming the file', () => {
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    writeFileSync(join(keys, 'dashboard'), 'read:not-a-digest\n');
    const file = join(dir, 'keysdir.json');
    writeFileSync(file, JSON.stringify({ mongodb: { url: 'mongodb://127.0.0.1:1' }, auth: { keysDir: keys }, http: { port: 0 } }));
    const r = edgewave('api', '--config', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(join(keys, 'dashboard'));
    expect(r.stderr).toContain('[EW_CONFIG_INVALID]');
  });

  it('hash-key prints a key and its SHA-256', () => {
    const r = edgewave('api', 'hash-key');
    expect(r.status).toBe(0);
    const key = /key:\s+(\S+)/.exec(r.stdout)![1]!;
    const digest = /sha256: ([0-9a-f]{64})/.exec(r.stdout)![1]!;
    expect(createHash('sha256').update(key).digest('hex')).toBe(digest);
    expect(key.length).toBeGreaterThanOrEqual(32);
  });
});
