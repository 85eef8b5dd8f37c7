// Sessions in MongoDB, written idempotently: one document per session, `_id` = the session id
// (stable: group and start time), replaced only by a version at least as new (`updatedAt`, the
// sample time of the newest window counted; an ended session wins a tie). Replaying the same events,
// in any order, leaves the same documents. Indexes serve the API's queries: by group, status and
// dominant activity, newest first.

import { MongoBulkWriteError, type Collection, type Db, type Filter } from 'mongodb';
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

/** A stored session's version: its `updatedAt`, an ended one above an active one of the same moment. */
export const sessionVersion = (updatedAt: number, status: Session['status']): number => updatedAt * 2 + (status === 'ended' ? 1 : 0);

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
    version: sessionVersion(s.updatedAt, s.status),
  };
}

/** The newest version of each session among `events`, as stored (an ended one wins a tie). */
export function newestVersions(events: Iterable<SessionEvent>): Map<string, SessionDocument> {
  const newest = new Map<string, SessionDocument>();
  for (const e of events) {
    const d = toDocument(e.session);
    const have = newest.get(d._id);
    if (!have || have.version <= d.version) newest.set(d._id, d);
  }
  return newest;
}

/** What the API asks of stored sessions: filters, an order by (start, id), a page after a cursor. */
export interface SessionQuery {
  group?: string | undefined;
  status?: Session['status'] | undefined;
  dominant?: string | undefined;
  /** Start time range, µs: from inclusive, to exclusive. */
  from?: number | undefined;
  to?: number | undefined;
  /** Newest first. */
  desc: boolean;
  /** Only sessions after this one in the order. */
  after?: { start: number; id: string } | undefined;
  limit: number;
}

/**
 * Where sessions are kept: MongoDB (`SessionStore`) in distributed mode, a file under ./data/
 * (`FileSessionStore`) in the embedded mode. Both pass the same contract
 * (test/cloud/store/sessions-contract.ts).
 */
export interface SessionRepository {
  /** Writes the newest version of each session among `events`, never over a newer stored one; returns how many changed. */
  write(events: readonly SessionEvent[]): Promise<number>;
  get(sessionId: string): Promise<SessionDocument | null>;
  /** The sessions `q` selects, in (start, id) order, at most `q.limit`. */
  find(q: SessionQuery): Promise<SessionDocument[]>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
}

export class SessionStore implements SessionRepository {
  private constructor(
    readonly collection: Collection<SessionDocument>,
    private readonly db: Db,
  ) {}

  /** Opens the collection and makes sure its indexes exist. */
  static async open(db: Db, name = 'sessions'): Promise<SessionStore> {
    const collection = db.collection<SessionDocument>(name);
    for (const ix of SESSION_INDEXES) await collection.createIndex({ ...ix.key }, { name: ix.name });
    return new SessionStore(collection, db);
  }

  /** The collection as it is, without making indexes (nothing is asked of the server until a call). */
  static wrap(db: Db, name = 'sessions'): SessionStore {
    return new SessionStore(db.collection<SessionDocument>(name), db);
  }

  async find(q: SessionQuery): Promise<SessionDocument[]> {
    const filter: Filter<SessionDocument> = {};
    if (q.group) filter.group = q.group;
    if (q.status) filter.status = q.status;
    if (q.dominant) filter.dominant = q.dominant;
    if (q.from !== undefined || q.to !== undefined) filter.start = { ...(q.from !== undefined ? { $gte: q.from } : {}), ...(q.to !== undefined ? { $lt: q.to } : {}) };
    if (q.after) {
      const op = q.desc ? '$lt' : '$gt';
      filter.$or = [{ start: { [op]: q.after.start } }, { start: q.after.start, _id: { [op]: q.after.id } }];
    }
    const dir = q.desc ? -1 : 1;
    return this.collection.find(filter).sort({ start: dir, _id: dir }).limit(q.limit).toArray();
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  /**
   * Writes the newest version of each session among `events`. A document already holding a newer
   * version stays as it is. Returns how many documents were inserted or changed.
   */
  async write(events: readonly SessionEvent[]): Promise<number> {
    const newest = newestVersions(events);
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
