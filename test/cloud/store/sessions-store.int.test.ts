// Sessions in the MongoDB-compatible server: one document per session, the newest version wins
// whatever order the events come in, a replay changes nothing, and the API's indexes exist.

import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newGroupState, observe, type Observation, type SessionEvent, type SessionOptions } from '../../../cloud/processor/sessions.js';
import { SESSION_INDEXES, SessionStore, toDocument } from '../../../cloud/store/sessions-store.js';
import { servers, uniqueName } from '../../config.js';

const settings = servers().ferretdb;
const CLASSES = ['idle', 'walking', 'running', 'jumping', 'fall'];
const opts: SessionOptions = { minSensors: 2, startAfterS: 5, idleGapS: 10, summaries: ['acc.mag_std'], updateEveryS: 10, staleUs: 3_000_000 };
const T0 = 1_795_000_000_000_000;

/** Two groups, each with a walk of two sensors: started, updated and ended events. */
function events(): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (const group of ['ga', 'gb']) {
    const g = newGroupState();
    for (let t = 0; t < 120; t += 1.28) {
      for (const sensorId of [`${group}-1`, `${group}-2`]) {
        const label = t >= 20 && t < 70 + (group === 'gb' ? 20 : 0) ? 'walking' : 'idle';
        const o: Observation = { sensorId, group, t0: T0 + Math.round(t * 1e6), t1: T0 + Math.round((t + 1.28) * 1e6), stepS: 1.28, label, score: 0.9, features: { 'acc.mag_std': label === 'idle' ? 0.1 : 2 } };
        out.push(...observe(g, o, opts, CLASSES));
      }
    }
  }
  return out;
}

describe.runIf(settings)('session store (MongoDB wire)', () => {
  let client: MongoClient;
  const dbName = uniqueName('sessions').replace(/-/g, '_');
  beforeAll(async () => {
    client = await new MongoClient(settings!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
  });
  afterAll(async () => {
    await client?.db(dbName).dropDatabase().catch(() => {});
    await client?.close();
  });

  it('keeps the newest version of each session, in any order, and a replay changes nothing', async () => {
    const store = await SessionStore.open(client.db(dbName), uniqueName('s'));
    const ev = events();
    expect(ev.filter((e) => e.type === 'ended').length).toBe(2);
    // Events in reverse, then forward twice: the ended versions stay.
    for (const e of [...ev].reverse()) await store.write([e]);
    await store.write(ev);
    expect(await store.write(ev)).toBe(0);
    const docs = await store.collection.find().sort({ _id: 1 }).toArray();
    const ended = ev.filter((e) => e.type === 'ended').map((e) => toDocument(e.session));
    expect(docs).toEqual(ended.sort((a, b) => (a._id < b._id ? -1 : 1)));
    expect(docs.every((d) => d.status === 'ended' && d.endAt instanceof Date)).toBe(true);
    const ga1 = docs[0]!.sensors.find((x) => x.sensorId === 'ga-1')!;
    expect(ga1.stats.find((x) => x.feature === 'acc.mag_std')!.std).toBeGreaterThan(0);
    expect(ga1.dominant).toBe('walking');
  });

  it('has the indexes the API queries by', async () => {
    const store = await SessionStore.open(client.db(dbName), uniqueName('s'));
    const names = (await store.collection.listIndexes().toArray()).map((i) => i.name);
    for (const ix of SESSION_INDEXES) expect(names).toContain(ix.name);
    await store.write(events());
    const walking = await store.collection.find({ group: 'gb', dominant: 'walking' }).sort({ start: -1 }).toArray();
    expect(walking.length).toBe(1);
  });
});
