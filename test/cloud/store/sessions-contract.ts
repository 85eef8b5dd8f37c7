// The sessions contract: what the API and the session sink rely on from a session repository, run
// against MongoDB (the MongoDB-wire server, sessions-contract.int.test.ts) and the embedded mode's
// file store (file-sessions.test.ts). The newest version of each session wins in any order and a
// replay changes nothing; pages in (start, id) order walk every session once, both ways, with
// filters by group, status, dominant activity and start time.

import { expect, it } from 'vitest';
import { newGroupState, observe, type Observation, type SessionEvent, type SessionOptions } from '../../../cloud/processor/sessions.js';
import { newestVersions, type SessionDocument, type SessionQuery, type SessionRepository } from '../../../cloud/store/sessions-store.js';

const CLASSES = ['idle', 'walking', 'running', 'jumping', 'fall'];
const opts: SessionOptions = { minSensors: 2, startAfterS: 2, idleGapS: 5, summaries: ['acc.mag_std'], updateEveryS: 10, staleUs: 3_000_000 };
export const T0 = 1_795_000_000_000_000;

/** Three groups with bouts of activity: ended sessions, some still active; started, updated and ended events. */
export function sessionEvents(): SessionEvent[] {
  const out: SessionEvent[] = [];
  ['ga', 'gb', 'gc'].forEach((group, gi) => {
    const g = newGroupState();
    for (let t = 0; t < 200; t += 1.28) {
      const bout = Math.floor(t / 30);
      const active = t % 30 < 15 + gi;
      const label = active ? CLASSES[1 + ((bout + gi) % 3)]! : 'idle';
      for (const sensorId of [`${group}-1`, `${group}-2`]) {
        const o: Observation = { sensorId, group, t0: T0 + Math.round(t * 1e6), t1: T0 + Math.round((t + 1.28) * 1e6), stepS: 1.28, label, score: 0.9, features: { 'acc.mag_std': active ? 2 : 0.1 } };
        out.push(...observe(g, o, opts, CLASSES));
      }
    }
  });
  return out;
}

async function walk(store: SessionRepository, q: Omit<SessionQuery, 'after' | 'limit'>, limit: number): Promise<SessionDocument[]> {
  const out: SessionDocument[] = [];
  for (let after: SessionQuery['after']; ; ) {
    const page = await store.find({ ...q, after, limit });
    expect(page.length).toBeLessThanOrEqual(limit);
    out.push(...page);
    if (page.length < limit) return out;
    const last = page.at(-1)!;
    after = { start: last.start, id: last._id };
  }
}

export function sessionsContract(open: () => Promise<SessionRepository>): void {
  it('keeps the newest version of each session, in any order; a replay changes nothing', async () => {
    const store = await open();
    const ev = sessionEvents();
    for (const e of [...ev].reverse()) await store.write([e]);
    await store.write(ev);
    expect(await store.write(ev)).toBe(0);
    const want = newestVersions(ev);
    expect(want.size).toBeGreaterThan(10);
    for (const [id, d] of want) expect(await store.get(id), id).toEqual(d);
    expect(await store.get('nope')).toBeNull();
    expect([...want.values()].filter((d) => d.status === 'active').length).toBeGreaterThan(0);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('pages in (start, id) order walk every session once, both ways, and filters select what they name', async () => {
    const store = await open();
    const ev = sessionEvents();
    await store.write(ev);
    const all = [...newestVersions(ev).values()];
    const byStart = (desc: boolean) => [...all].sort((a, b) => (a.start - b.start || (a._id < b._id ? -1 : 1)) * (desc ? -1 : 1)).map((d) => d._id);
    for (const desc of [true, false]) {
      expect((await walk(store, { desc }, 4)).map((d) => d._id)).toEqual(byStart(desc));
      expect((await walk(store, { desc }, 1000)).map((d) => d._id)).toEqual(byStart(desc));
    }
    const pick = async (q: Omit<SessionQuery, 'after' | 'limit' | 'desc'>) => (await walk(store, { ...q, desc: true }, 3)).map((d) => d._id).sort();
    const ids = (f: (d: SessionDocument) => boolean) => all.filter(f).map((d) => d._id).sort();
    expect(await pick({ group: 'gb' })).toEqual(ids((d) => d.group === 'gb'));
    expect(await pick({ status: 'active' })).toEqual(ids((d) => d.status === 'active'));
    expect(await pick({ group: 'gc', status: 'ended' })).toEqual(ids((d) => d.group === 'gc' && d.status === 'ended'));
    expect(await pick({ dominant: 'running' })).toEqual(ids((d) => d.dominant === 'running'));
    const from = T0 + 60e6;
    const to = T0 + 120e6;
    expect(await pick({ from, to })).toEqual(ids((d) => d.start >= from && d.start < to));
    expect((await pick({ from, to })).length).toBeGreaterThan(0);
    expect(await pick({ group: 'nope' })).toEqual([]);
  });
}
