// The durable outbox: order, acks, restarts (clean, SIGKILL, torn tail), the byte bound and its
// drop order, and segment clean-up.

import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, type AppendItem } from '../../edge/outbox/outbox.js';
import type { RecordKind } from '../../edge/outbox/record.js';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'edgewave-outbox-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const item = (kind: RecordKind, n: number, size = 100): AppendItem => ({ kind, topic: `edgewave/gw-1/s-${n % 7}/${kind}`, payload: new Uint8Array(size).fill(n % 256) });
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg'));

describe('Outbox', () => {
  it('hands records out in order and forgets them once acked', async () => {
    const dir = fresh();
    const o = Outbox.open(dir, { maxBytes: 2 ** 20 });
    const ids = [...(await o.append([item('raw', 0), item('features', 1)])), ...(await o.append([item('raw', 2)]))];
    expect(ids).toEqual([0, 1, 2]);
    const got = await o.take(10);
    expect(got.map((r) => [r.id, r.kind, r.topic, r.payload[0]])).toEqual([
      [0, 'raw', 'edgewave/gw-1/s-0/raw', 0],
      [1, 'features', 'edgewave/gw-1/s-1/features', 1],
      [2, 'raw', 'edgewave/gw-1/s-2/raw', 2],
    ]);
    expect(await o.take(10)).toEqual([]);
    expect(o.stats()).toMatchObject({ depthRecords: 3, inFlight: 3 });
    for (const r of got) o.ack(r.id);
    expect(o.stats()).toMatchObject({ depthRecords: 0, depthBytes: 0, inFlight: 0, acked: 3 });
    await o.close();
    const again = Outbox.open(dir, { maxBytes: 2 ** 20 });
    expect(again.pendingIds()).toEqual([]);
    expect(await again.append([item('raw', 3)])).toEqual([3]);
    await again.close();
  });

  it('released records come back first, in order', async () => {
    const o = Outbox.open(fresh(), { maxBytes: 2 ** 20 });
    await o.append(Array.from({ length: 6 }, (_, n) => item('raw', n)));
    const first = await o.take(4);
    o.ack(first[1]!.id);
    o.release([first[3]!.id, first[0]!.id]);
    expect((await o.take(3)).map((r) => r.id)).toEqual([0, 3, 4]);
    o.releaseAll();
    expect((await o.take(10)).map((r) => r.id)).toEqual([0, 2, 3, 4, 5]);
    await o.close();
  });

  it('keeps what was not acked across a clean restart, acks included', async () => {
    const dir = fresh();
    const o = Outbox.open(dir, { maxBytes: 2 ** 20, segmentBytes: 1000 });
    await o.append(Array.from({ length: 30 }, (_, n) => item(n % 3 ? 'raw' : 'features', n)));
    const taken = await o.take(30);
    for (const r of taken) if (r.id % 4 !== 0) o.ack(r.id);
    await o.close();
    const again = Outbox.open(dir, { maxBytes: 2 ** 20, segmentBytes: 1000 });
    const pending = await again.take(100);
    expect(pending.map((r) => r.id)).toEqual([0, 4, 8, 12, 16, 20, 24, 28]);
    expect(pending.map((r) => r.payload[0])).toEqual([0, 4, 8, 12, 16, 20, 24, 28]);
    expect(again.stats().recovered).toBe(8);
    // Segments whose records are all done are gone.
    expect(segments(dir).length).toBeLessThan(4);
    await again.close();
  });

  it('cuts a torn tail at the last whole record and goes on appending after it', async () => {
    const dir = fresh();
    const o = Outbox.open(dir, { maxBytes: 2 ** 20 });
    await o.append(Array.from({ length: 5 }, (_, n) => item('raw', n, 50)));
    await o.close();
    const seg = join(dir, segments(dir).at(-1)!);
    const size = statSync(seg).size;
    truncateSync(seg, size - 10); // the last record loses its end
    appendFileSync(seg, Buffer.from([1, 2, 3]));
    const again = Outbox.open(dir, { maxBytes: 2 ** 20 });
    expect(again.pendingIds()).toEqual([0, 1, 2, 3]);
    expect(again.stats().truncatedBytes).toBe(size / 5 - 10 + 3);
    expect(await again.append([item('raw', 9, 50)])).toEqual([4]);
    expect((await again.take(10)).map((r) => r.payload[0])).toEqual([0, 1, 2, 3, 9]);
    await again.close();
  });

  it('when full, drops the oldest raw records first, features last, never what is in flight, and says so', async () => {
    const drops: { kind: RecordKind; records: number }[] = [];
    // Every record the same size: 20 header bytes, a 10-byte topic, 100 payload bytes.
    const item = (kind: RecordKind, n: number): AppendItem => ({ kind, topic: 'edgewave/x', payload: new Uint8Array(100).fill(n % 256) });
    const size = 130;
    const o = Outbox.open(fresh(), { maxBytes: 10 * size, onDrop: (d) => drops.push(d) });
    const kinds: RecordKind[] = ['raw', 'features', 'raw', 'features', 'raw', 'raw', 'features', 'raw', 'raw'];
    await o.append(kinds.map((k, n) => item(k, n)));
    const inFlight = await o.take(1); // id 0, raw: must survive
    await o.append([item('features', 100), item('features', 101), item('features', 102)]);
    // Nine records plus three is two past the bound of ten: the oldest raw records not in flight, ids 2 and 4, go.
    expect(o.pendingIds()).toEqual([0, 1, 3, 5, 6, 7, 8, 9, 10, 11]);
    expect(inFlight[0]!.id).toBe(0);
    expect(o.stats().dropped).toEqual({ raw: 2, features: 0, other: 0 });
    await o.append(Array.from({ length: 6 }, (_, n) => item('features', 200 + n)));
    // Six more: raw 5, 7 and 8 (every raw record not in flight), then features 1, 3 and 6, the oldest.
    expect(o.pendingIds()).toEqual([0, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect(o.stats().dropped).toEqual({ raw: 5, features: 3, other: 0 });
    expect(o.stats().depthBytes).toBe(10 * size);
    expect(drops.map((d) => d.kind)).toEqual(['raw', 'raw', 'features']);
    await expect(o.append(Array.from({ length: 11 }, (_, n) => item('features', n)))).rejects.toMatchObject({ code: 'EW_EDGE_OUTBOX' });
    await o.close();
  });

  it('writes its state and removes finished segments in the background while open; a process killed after that re-sends none of it', async () => {
    const dir = fresh();
    const o = Outbox.open(dir, { maxBytes: 2 ** 20, fsync: 'interval', fsyncIntervalMs: 5, stateIntervalMs: 10, segmentBytes: 1000 });
    for (let n = 0; n < 30; n++) await o.append([item('raw', n)]); // a segment starts between batches
    const before = segments(dir).length;
    expect(before).toBeGreaterThan(3);
    for (const r of await o.take(20)) o.ack(r.id);
    const state = () => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { below: number };
    for (let i = 0; i < 200 && (state().below !== 20 || segments(dir).length === before); i++) await new Promise((r) => setTimeout(r, 10));
    expect(state().below).toBe(20);
    expect(segments(dir).length).toBeLessThan(before);
    // Opened again without a close, as after SIGKILL: only what was not acked comes back.
    const again = Outbox.open(dir, { maxBytes: 2 ** 20 });
    expect(again.pendingIds()).toEqual(Array.from({ length: 10 }, (_, n) => 20 + n));
    await again.close();
    await o.close();
  });

  it.each(['interval', 'none'] as const)('works with fsync %s', async (fsync) => {
    const dir = fresh();
    const o = Outbox.open(dir, { maxBytes: 2 ** 20, fsync, fsyncIntervalMs: 5 });
    await o.append([item('raw', 1), item('raw', 2)]);
    await new Promise((r) => setTimeout(r, 20));
    await o.close();
    const again = Outbox.open(dir, { maxBytes: 2 ** 20 });
    expect(again.pendingIds()).toEqual([0, 1]);
    await again.close();
  });

  it.each(['no acks', 'ack'])('loses nothing acknowledged as written when SIGKILLed mid-append (%s)', async (mode) => {
    const dir = fresh();
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./outbox-child.ts', import.meta.url).pathname, dir, mode === 'ack' ? 'ack' : 'none'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (out.split('\n').length > 60) {
          clearInterval(check);
          child.kill('SIGKILL');
          resolve();
        }
      }, 5);
    });
    await new Promise((r) => child.once('exit', r));
    const written = out.split('\n').filter((l) => /^\d/.test(l)).flatMap((l) => l.split(',').map(Number));
    const o = Outbox.open(dir, { maxBytes: 64 * 2 ** 20 });
    const pending = new Set(o.pendingIds());
    if (mode === 'ack') {
      // After each batch the child acks the three oldest records. Acked ones may or may not come
      // back (the state is written every 20 ms); the others must. The child may have acked one
      // more batch's worth than it printed before the kill.
      const batches = written.length / 5;
      const mayBeAcked = 3 * (batches + 1);
      for (const id of written) if (id >= mayBeAcked) expect(pending.has(id), `id ${id}`).toBe(true);
      expect(written.filter((id) => id >= mayBeAcked).length).toBeGreaterThan(100);
    } else {
      for (const id of written) expect(pending.has(id), `id ${id}`).toBe(true);
    }
    const ids = o.pendingIds();
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set((await o.take(ids.length)).map((r) => r.topic.split('/')[2])).size).toBeGreaterThan(0);
    await o.close();
  }, 30_000);
});
