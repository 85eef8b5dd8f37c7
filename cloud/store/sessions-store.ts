// Sessions in MongoDB, written idempotently: one document per session, `_id` = the session id
// (stable: group and start time), replaced only by a version at least as new (`updatedAt`, the
// sample time of the newest window counted; an ended session wins a tie). Replaying the same events,
// in any order, leaves the same documents. Indexes serve the API's queries: by group, status and
// dominant activity, newest first.

import { MongoBulkWriteError, type Collection, type Db } from 'mongodb';
import type { Session, SessionEvent } from '../processor/sessions.js';
import { statStd } from '../processor/sessions.js';

/** Per sensor, as stored. */
export interface SensorDocument {
  sensorId: string;
  windows: number;
  durationS: number;
  dominant: string;
  labels: { label: string; windows: number }[];
  stats: { feature: string; n: number; mean: number; std: number; min: number; max: number }[];
}

/**
 * The stored form of a session: its times as Dates too (for range queries), and sensors, labels and
 * summaries as arrays, since sensor ids and feature names may hold dots, which field names may not.
 */
export interface SessionDocument {
  _id: string;
  group: string;
  status: Session['status'];
  start: number;
  end: number | null;
  startAt: Date;
  endAt: Date | null;
  windows: number;
  dominant: string;
  sensors: SensorDocument[];
  labels: { label: string; windows: number; durationS: number }[];
  updatedAt: number;
  /** Version for idempotent writes: updatedAt, and an ended session above an active one of the same moment. */
  version: number;
}

export const SESSION_INDEXES = [
  { key: { group: 1, start: -1 }, name: 'group_start' },
  { key: { status: 1, start: -1 }, name: 'status_start' },
  { key: { dominant: 1, start: -1 }, name: 'dominant_start' },
  { key: { start: -1 }, name: 'start' },
] as const;

export function toDocument(s: Session): SessionDocument {
  const byName = <T>(o: Record<string, T>) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    _id: s.sessionId,
    group: s.group,
    status: s.status,
    start: s.start,
    end: s.end,
    startAt: new Date(s.start / 1000),
    endAt: s.end === null ? null : new Date(s.end / 1000),
    windows: s.windows,
    dominant: s.dominant,
    sensors: byName(s.sensors).map(([sensorId, a]) => ({
      sensorId,
      windows: a.windows,
      durationS: a.durationS,
      dominant: a.dominant,
      labels: byName(a.labels).map(([label, windows]) => ({ label, windows })),
      stats: byName(a.stats).map(([feature, st]) => ({ feature, n: st.n, mean: st.mean, std: statStd(st), min: st.min, max: st.max })),
    })),
    labels: byName(s.labels).map(([label, l]) => ({ label, windows: l.windows, durationS: l.durationS })),
    updatedAt: s.updatedAt,
    version: s.updatedAt * 2 + (s.status === 'ended' ? 1 : 0),
  };
}

export class SessionStore {
  private constructor(readonly collection: Collection<SessionDocument>) {}

  /** Opens the collection and makes sure its indexes exist. */
  static async open(db: Db, name = 'sessions'): Promise<SessionStore> {
    const collection = db.collection<SessionDocument>(name);
    for (const ix of SESSION_INDEXES) await collection.createIndex({ ...ix.key }, { name: ix.name });
    return new SessionStore(collection);
  }

  /**
   * Writes the newest version of each session among `events`. A document already holding a newer
   * version stays as it is. Returns how many documents were inserted or changed.
   */
  async write(events: readonly SessionEvent[]): Promise<number> {
    const newest = new Map<string, SessionDocument>();
    for (const e of events) {
      const d = toDocument(e.session);
      const have = newest.get(d._id);
      if (!have || have.version <= d.version) newest.set(d._id, d);
    }
    if (!newest.size) return 0;
    // Replace where the stored version is not newer; where it is, the upsert's insert collides with
    // the existing _id (11000) and the newer document stays.
    const ops = [...newest.values()].map((d) => ({ replaceOne: { filter: { _id: d._id, version: { $lte: d.version } }, replacement: d, upsert: true } }));
    try {
      const r = await this.collection.bulkWrite(ops, { ordered: false });
      return r.upsertedCount + r.modifiedCount;
    } catch (err) {
      if (err instanceof MongoBulkWriteError && allDuplicates(err)) return (err.result?.upsertedCount ?? 0) + (err.result?.modifiedCount ?? 0);
      throw err;
    }
  }

  get(sessionId: string): Promise<SessionDocument | null> {
    return this.collection.findOne({ _id: sessionId });
  }
}

function allDuplicates(err: MongoBulkWriteError): boolean {
  const list = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  return list.every((e) => (e as { code: number }).code === 11000);
}
