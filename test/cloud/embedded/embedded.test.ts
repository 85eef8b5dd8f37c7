// The embedded mode end to end in one process, no server installed: simulated gateways → the
// in-process MQTT broker → the bridge → the in-process log → the processor with the shipped model →
// the API. Every sensor shows up live with a class; sessions are stored in the data directory and
// are there again after a restart, before any new data, those the first run left active ended.
// The archive survives a restart too: a clean stop writes what the log holds, and the next run's
// log goes on after the archived offsets, so its objects never take an earlier run's names.
// A full log holds the gateways back instead of dropping anything: what they could not send waits in
// their outboxes and goes through, once, when there is room.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openObjects } from '../../../cloud/common/objects.js';
import { startEmbedded, type EmbeddedHandle } from '../../../cloud/embedded/embedded.js';
import { parseArchiveKey, parquetToFrames } from '../../../cloud/store/archive.js';
import { FileSessionStore } from '../../../cloud/store/file-sessions.js';

const dataDir = mkdtempSync(join(tmpdir(), 'edgewave-embedded-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function until<T>(f: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('embedded mode', () => {
  it('every simulated sensor live with its class through the whole pipeline; sessions kept across a restart', async () => {
    let e: EmbeddedHandle | undefined = await startEmbedded({ dataDir, sensors: 20, gateways: 2, groups: 4, port: 0, mqttPort: 0 });
    let sessionIds: string[] = [];
    try {
      const get = async <T>(path: string) => (await (await fetch(`${e!.url}${path}`)).json()) as T;
      const listed = await until(async () => {
        const r = await get<{ items: { sensorId: string; gatewayId: string; group: string; label?: string }[] }>('/sensors');
        return r.items.length === 20 ? r.items : undefined;
      }, 30_000, 'all 20 sensors at /sensors');
      expect(new Set(listed.map((x) => x.gatewayId))).toEqual(new Set(['gw-1', 'gw-2']));
      expect(new Set(listed.map((x) => x.group))).toEqual(new Set(['group-0', 'group-1', 'group-2', 'group-3']));
      expect(listed.every((x) => ['idle', 'walking', 'running', 'jumping', 'fall'].includes(x.label!))).toBe(true);
      const ready = await get<{ status: string }>('/ready');
      expect(ready.status).toBe('ready');
      const sessions = await until(async () => {
        const r = await get<{ items: { sessionId: string; group: string }[] }>('/sessions?limit=500');
        return r.items.length ? r.items : undefined;
      }, 90_000, 'a session');
      sessionIds = sessions.map((x) => x.sessionId);
      expect(e.bridge.stats()).toMatchObject({ deadLetters: 0, kafkaConnected: true, mqttConnected: true });
      expect(e.bridge.stats().frames).toBeGreaterThan(0);
    } finally {
      await e?.stop();
    }
    // What the first run left active (its log, and so its processor's state, goes with it).
    const left = (await FileSessionStore.open(join(dataDir, 'sessions')).find({ status: 'active', desc: true, limit: 500 })).map((d) => d._id);
    expect(left.length).toBeGreaterThan(0);
    // Again on the same data directory: the stored sessions are served before any new data, and
    // those left active are ended: no later window can come for them.
    e = await startEmbedded({ dataDir, sensors: 20, gateways: 2, groups: 4, port: 0, mqttPort: 0 });
    try {
      expect([...e.interruptedSessions].sort()).toEqual([...left].sort());
      const page = (await (await fetch(`${e.url}/sessions?limit=500`)).json()) as { items: { sessionId: string; status: string }[] };
      expect(page.items.map((x) => x.sessionId)).toEqual(expect.arrayContaining(sessionIds));
      for (const x of page.items) if (left.includes(x.sessionId)) expect(x.status).toBe('ended');
    } finally {
      await e.stop();
    }
  }, 180_000);

  it('a clean stop archives every frame the log holds; the next run writes beside those objects, overwriting none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgewave-embedded-archive-'));
    const objects = openObjects(`file://${join(dir, 'archive')}`, () => {
      throw new Error('no S3 here');
    });
    const snapshot = async () => new Map(await Promise.all((await objects.list('')).map(async (k) => [k, Buffer.from(await objects.get(k))] as const)));
    const run = async () => {
      const before = await objects.list('');
      const e = await startEmbedded({ dataDir: dir, sensors: 8, gateways: 2, groups: 2, port: 0, mqttPort: 0 });
      try {
        // Shorter than the archive's flush age (60 s): nothing is written before the stop.
        await until(async () => (e.processor.stats().frames >= 24 ? true : undefined), 60_000, '24 frames processed');
        expect(await objects.list('')).toEqual(before);
      } finally {
        await e.stop();
      }
      return { processed: e.processor.stats().frames, archived: e.processor.archiver!.stats().frames };
    };
    try {
      const first = await run();
      const after1 = await snapshot();
      const frames1 = (await Promise.all([...after1.values()].map((b) => parquetToFrames(b)))).flat();
      expect(frames1.length).toBeGreaterThanOrEqual(24);
      expect(frames1.length).toBe(first.processed);
      expect(first.archived).toBe(first.processed);
      const lastOf1 = Math.max(...[...after1.keys()].map((k) => Number(parseArchiveKey(k)!.last)));

      const second = await run();
      const after2 = await snapshot();
      // The first run's objects are there, byte for byte; the second's come from later offsets.
      for (const [key, bytes] of after1) expect(after2.get(key)?.equals(bytes), key).toBe(true);
      const added = [...after2.keys()].filter((k) => !after1.has(k));
      expect(added.length).toBeGreaterThan(0);
      for (const k of added) expect(Number(parseArchiveKey(k)!.first)).toBeGreaterThan(lastOf1);
      // Every frame of both runs once, and each sensor's frames without a gap across the restart
      // (what a gateway had not sent at the first stop waited in its outbox for the second run).
      const all = (await Promise.all([...after2.values()].map((b) => parquetToFrames(b)))).flat();
      expect(all.length).toBe(first.processed + second.processed);
      const seqs = new Map<string, number[]>();
      for (const f of all) seqs.set(f.sensorId, [...(seqs.get(f.sensorId) ?? []), f.seq]);
      expect(seqs.size).toBe(8);
      for (const [sensor, list] of seqs) {
        list.sort((a, b) => a - b);
        expect(new Set(list).size, sensor).toBe(list.length);
        expect(list.at(-1)! - list[0]! + 1, `${sensor}: seq ${list[0]}..${list.at(-1)}, ${list.length} frames`).toBe(list.length);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('a full in-process log holds the gateways back; what they held goes through later, every frame once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgewave-embedded-full-'));
    const objects = openObjects(`file://${join(dir, 'archive')}`, () => {
      throw new Error('no S3 here');
    });
    const options = { dataDir: dir, sensors: 8, gateways: 2, groups: 2, port: 0, mqttPort: 0 };
    const backlog = (e: EmbeddedHandle) => e.agents.reduce((n, a) => n + a.outbox.stats().depthRecords, 0);
    try {
      // 1 KiB a partition, and an archive that flushes only by age, every 2 s: between its flushes
      // the log is full of records the archive has not committed, and the bridge's writes are
      // refused and held, and its MQTT acknowledgements. The broker holds at most 2 messages for
      // it, and the gateways' outboxes fill.
      const first = await startEmbedded({ ...options, logRetentionBytes: 1 << 10, archiveFlushBytes: 1 << 20, archiveFlushS: 2, brokerHoldMax: 2 });
      let most = 0;
      try {
        await until(async () => {
          most = Math.max(most, backlog(first));
          return first.log.stats().refusedWrites >= 5 && most >= 8 && first.processor.archiver!.stats().frames > 0 ? true : undefined;
        }, 90_000, 'writes refused by the full log, a backlog at the gateways and an archive flush');
      } finally {
        await first.stop();
      }
      expect(first.log.stats().refusedWrites).toBeGreaterThanOrEqual(5);
      expect(most).toBeGreaterThanOrEqual(8);

      // The next run, with room: the outboxes empty, and nothing is refused.
      const second = await startEmbedded(options);
      try {
        await until(async () => (backlog(second) === 0 && second.processor.stats().frames > 0 ? true : undefined), 90_000, "the gateways' backlogs delivered");
      } finally {
        await second.stop();
      }
      expect(second.log.stats().refusedWrites).toBe(0);

      // Every frame each gateway numbered (seq.json: a sensor's frames so far) is in the archive once.
      const numbered = new Map<string, number>();
      for (const g of ['gw-1', 'gw-2']) for (const [id, n] of Object.entries(JSON.parse(readFileSync(join(dir, 'edge', g, 'seq.json'), 'utf8')) as Record<string, number>)) numbered.set(id, n);
      expect(numbered.size).toBe(8);
      const frames = (await Promise.all((await objects.list('')).map(async (k) => parquetToFrames(Buffer.from(await objects.get(k)))))).flat();
      const seqs = new Map<string, number[]>();
      for (const f of frames) seqs.set(f.sensorId, [...(seqs.get(f.sensorId) ?? []), f.seq]);
      for (const [sensor, n] of numbered) {
        const list = (seqs.get(sensor) ?? []).sort((a, b) => a - b);
        expect(list.length, `${sensor}: ${list.length} frames archived of ${n} numbered`).toBe(n);
        expect(list, sensor).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
