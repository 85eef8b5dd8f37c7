// Sessions in a file, for the embedded mode (`npm start`, under ./data/): the same repository as
// MongoDB's (sessions-store.ts) and the same contract, kept in memory and appended to
// `sessions.jsonl`, one stored version per line. Opening reads the file back (the newest version of
// each session wins; a last line cut short by a crash is skipped) and rewrites it compacted when
// most of its lines are superseded. Writes go out in order, one append per call.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../edge/atomic-write.js';
import type { SessionEvent } from '../processor/sessions.js';
import { newestVersions, sessionVersion, type SessionDocument, type SessionQuery, type SessionRepository } from './sessions-store.js';

export class FileSessionStore implements SessionRepository {
  private readonly docs = new Map<string, SessionDocument>();
  private chain: Promise<void> = Promise.resolve();
  /** Lines in the file, for compaction. */
  private lines = 0;

  private constructor(readonly file: string) {}

  static open(dir: string): FileSessionStore {
    mkdirSync(dir, { recursive: true });
    const store = new FileSessionStore(join(dir, 'sessions.jsonl'));
    if (existsSync(store.file)) {
      const text = readFileSync(store.file, 'utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        let d: SessionDocument;
        try {
          d = revive(JSON.parse(line) as SessionDocument);
        } catch {
          continue; // a line cut short by a crash mid-append
        }
        store.lines++;
        const have = store.docs.get(d._id);
        if (!have || have.version <= d.version) store.docs.set(d._id, d);
      }
      if (store.lines > 2 * store.docs.size + 100 || !text.endsWith('\n')) store.compact();
    }
    return store;
  }

  private compact(): void {
    const text = [...this.docs.values()].map((d) => JSON.stringify(d)).join('\n');
    writeFileAtomic(this.file, text ? `${text}\n` : '');
    this.lines = this.docs.size;
  }

  async write(events: readonly SessionEvent[]): Promise<number> {
    const newest = newestVersions(events);
    const changed: SessionDocument[] = [];
    for (const d of newest.values()) {
      const stored = this.docs.get(d._id);
      if (stored && stored.version > d.version) continue;
      if (stored && JSON.stringify(stored) === JSON.stringify(d)) continue;
      this.docs.set(d._id, d);
      changed.push(d);
    }
    await this.append(changed);
    return changed.length;
  }

  /**
   * Ends every session stored as active at the newest window it counted (`updatedAt`), and returns
   * their ids. For a store whose writer's state is gone: the embedded mode's log does not survive a
   * restart, so nothing would ever end the sessions a previous run left active.
   */
  async endActive(): Promise<string[]> {
    const ended: SessionDocument[] = [];
    for (const d of this.docs.values()) {
      if (d.status !== 'active') continue;
      const e: SessionDocument = { ...d, status: 'ended', end: d.updatedAt, endAt: new Date(d.updatedAt / 1000), version: sessionVersion(d.updatedAt, 'ended') };
      this.docs.set(e._id, e);
      ended.push(e);
    }
    await this.append(ended);
    return ended.map((d) => d._id);
  }

  private async append(docs: readonly SessionDocument[]): Promise<void> {
    if (!docs.length) return;
    const text = docs.map((d) => `${JSON.stringify(d)}\n`).join('');
    this.lines += docs.length;
    const done = this.chain.then(() => appendFile(this.file, text));
    this.chain = done.catch(() => {});
    await done;
  }

  async get(sessionId: string): Promise<SessionDocument | null> {
    const d = this.docs.get(sessionId);
    return d ? structuredClone(d) : null;
  }

  async find(q: SessionQuery): Promise<SessionDocument[]> {
    const dir = q.desc ? -1 : 1;
    const order = (a: { start: number; id: string }, b: { start: number; id: string }) => (a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) * dir;
    const out: SessionDocument[] = [];
    for (const d of this.docs.values()) {
      if (q.group && d.group !== q.group) continue;
      if (q.status && d.status !== q.status) continue;
      if (q.dominant && d.dominant !== q.dominant) continue;
      if (q.from !== undefined && d.start < q.from) continue;
      if (q.to !== undefined && d.start >= q.to) continue;
      if (q.after && order({ start: d.start, id: d._id }, q.after) <= 0) continue;
      out.push(d);
    }
    out.sort((a, b) => order({ start: a.start, id: a._id }, { start: b.start, id: b._id }));
    return out.slice(0, q.limit).map((d) => structuredClone(d));
  }

  async ping(): Promise<void> {}

  /** Sessions stored. */
  get size(): number {
    return this.docs.size;
  }

  /** Waits for the appends under way. */
  async flush(): Promise<void> {
    await this.chain;
  }
}

function revive(d: SessionDocument): SessionDocument {
  return { ...d, startAt: new Date(d.startAt), endAt: d.endAt === null ? null : new Date(d.endAt) };
}
