// The embedded mode's file store against the sessions contract (sessions-contract.ts), which
// MongoDB passes too; and what only it does: read back after a restart, a line cut short by a
// crash skipped, superseded lines compacted away, sessions a previous run left active ended.

import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSessionStore } from '../../../cloud/store/file-sessions.js';
import { sessionEvents, sessionsContract } from './sessions-contract.js';

const root = mkdtempSync(join(tmpdir(), 'edgewave-file-sessions-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

describe('file store: the sessions contract', () => {
  sessionsContract(async () => FileSessionStore.open(join(root, `c${++n}`)));
});

describe('file store: on disk', () => {
  it('reads back the same sessions after a restart, skips a line cut short, and compacts superseded lines', async () => {
    const dir = join(root, 'disk');
    const a = FileSessionStore.open(dir);
    const ev = sessionEvents();
    for (const e of ev) await a.write([e]);
    const lines = readFileSync(a.file, 'utf8').trim().split('\n').length;
    const all = await a.find({ desc: true, limit: 10_000 });
    expect(lines).toBeGreaterThan(all.length * 2);
    // A crash mid-append leaves half a line.
    appendFileSync(a.file, '{"_id":"half');
    const b = FileSessionStore.open(dir);
    expect(await b.find({ desc: true, limit: 10_000 })).toEqual(all);
    // Opening compacted the file: one line per session.
    expect(readFileSync(b.file, 'utf8').trim().split('\n')).toHaveLength(all.length);
    const c = FileSessionStore.open(dir);
    expect(await c.find({ desc: false, limit: 10_000 })).toEqual([...all].reverse());
    expect((await c.get(all[0]!._id))!.startAt).toBeInstanceOf(Date);
  });

  it('ends the sessions left active at their newest stored window, for good, and leaves the others as they were', async () => {
    const dir = join(root, 'interrupted');
    const a = FileSessionStore.open(dir);
    await a.write(sessionEvents());
    const before = await a.find({ desc: true, limit: 10_000 });
    const active = before.filter((d) => d.status === 'active');
    expect(active.length).toBeGreaterThan(0);
    expect(active.length).toBeLessThan(before.length);
    const b = FileSessionStore.open(dir);
    expect((await b.endActive()).sort()).toEqual(active.map((d) => d._id).sort());
    for (const d of active) {
      const e = (await b.get(d._id))!;
      expect(e).toMatchObject({ status: 'ended', end: d.updatedAt, windows: d.windows, updatedAt: d.updatedAt, version: d.updatedAt * 2 + 1 });
      expect(e.endAt).toEqual(new Date(d.updatedAt / 1000));
    }
    for (const d of before.filter((x) => x.status === 'ended')) expect(await b.get(d._id)).toEqual(d);
    // On disk: a store opened afterwards has none active, and has nothing more to end.
    const c = FileSessionStore.open(dir);
    expect(await c.find({ status: 'active', desc: true, limit: 10_000 })).toEqual([]);
    expect(await c.endActive()).toEqual([]);
    // An older active version written late (a replay) does not bring a session back.
    await c.write(sessionEvents());
    expect(await c.find({ status: 'active', desc: true, limit: 10_000 })).toEqual([]);
  });
});
