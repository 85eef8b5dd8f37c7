// Per-sensor sequence numbers that keep increasing across agent restarts, SIGKILL included.
// (sensorId, seq) identifies a frame everywhere downstream, so a restarted agent must never reuse
// one. Numbers are reserved in blocks: `commit` writes the end of every newly reserved block
// (atomically, fsynced) to seq.json, and the agent commits before frames that carry those numbers
// go into the outbox; after a crash a sensor starts at the end of its last committed block. Unused
// numbers are skipped, never repeated. A clean stop saves the exact next numbers: no gap then.

import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { EdgeError } from './errors.js';

export class SeqStore {
  private readonly next = new Map<string, number>();
  private readonly reserved = new Map<string, number>();
  private dirty = false;

  private constructor(
    readonly path: string,
    readonly blockSize: number,
  ) {}

  static open(path: string, blockSize = 65_536): SeqStore {
    const s = new SeqStore(path, blockSize);
    try {
      mkdirSync(dirname(path), { recursive: true });
      const saved = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      for (const [id, end] of Object.entries(saved)) {
        if (typeof end === 'number' && Number.isSafeInteger(end) && end >= 0) {
          s.next.set(id, end);
          s.reserved.set(id, end);
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) {
        throw new EdgeError('EW_EDGE_OUTBOX', `cannot read sequence state ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    return s;
  }

  /** The next sequence number of a sensor; `commit` before a frame carrying it is stored. */
  take(sensorId: string): number {
    const seq = this.next.get(sensorId) ?? 0;
    if (seq >= (this.reserved.get(sensorId) ?? 0)) {
      this.reserved.set(sensorId, seq + this.blockSize);
      this.dirty = true;
    }
    this.next.set(sensorId, seq + 1);
    return seq;
  }

  /** Makes every reservation so far durable (one write for all sensors); a no-op when there is none. */
  commit(): void {
    if (!this.dirty) return;
    this.save();
    this.dirty = false;
  }

  /**
   * On a clean stop, after the last frame is stored: saves each sensor's exact next number, so the
   * next start continues without a gap (and seq.json says how many frames each sensor has sent).
   */
  close(): void {
    for (const [id, next] of this.next) this.reserved.set(id, next);
    this.save();
    this.dirty = false;
  }

  private save(): void {
    writeFileAtomic(this.path, JSON.stringify(Object.fromEntries(this.reserved)));
  }
}
