// The hub's writes to a client's socket: what one tick publishes to a client leaves in one write
// (not a system call per message), in order, and a client that does not read is still queued for,
// dropped to and closed as before, its own tick's writes not counted against it.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { Hub, type LiveClient } from '../../../cloud/api/hub.js';

const options = { highWaterBytes: 64 * 1024, maxQueue: 100, closeAfterMs: 60_000 };

const cleanup: (() => void)[] = [];

/** A hub client on the server side of a real WebSocket, and the client that reads it (both closed after the test). */
async function pair(hub: Hub): Promise<{ server: Server; client: WebSocket; live: LiveClient; writes: () => number; received: string[] }> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: false });
  const received: string[] = [];
  client.on('message', (b) => received.push(b.toString()));
  const [ws] = await Promise.all([accepted, new Promise((r) => client.once('open', r))]);
  // Every write the server's socket makes to the kernel.
  const socket = (ws as unknown as { _socket: { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } })._socket;
  let writes = 0;
  for (const m of ['_write', '_writev'] as const) {
    const f = socket[m].bind(socket);
    socket[m] = (...a: unknown[]) => {
      writes++;
      f(...a);
    };
  }
  cleanup.push(() => {
    client.terminate();
    server.close();
  });
  const live = hub.add(ws);
  hub.subscribe(live, { id: 's1', kinds: new Set(['inferences']), sensors: null, groups: null });
  return { server, client, live, writes: () => writes, received };
}

describe('hub writes', () => {
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it('what one tick publishes to a client goes in one write, in order; the next tick in another', async () => {
    const hub = new Hub(options);
    const p = await pair(hub);
    const before = p.writes();
    for (let i = 0; i < 200; i++) hub.publish('inferences', JSON.stringify({ sensorId: `s${i % 7}`, seq: i }), { sensorId: `s${i % 7}`, group: 'g' });
    await new Promise((r) => setImmediate(r));
    expect(p.writes() - before).toBe(1);
    for (let i = 200; i < 210; i++) hub.publish('inferences', JSON.stringify({ sensorId: 's1', seq: i }), { sensorId: 's1', group: 'g' });
    await new Promise((r) => setImmediate(r));
    expect(p.writes() - before).toBe(2);
    for (let end = Date.now() + 5000; p.received.length < 210 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    expect(p.received.map((t) => (JSON.parse(t) as { data: { seq: number } }).data.seq)).toEqual(Array.from({ length: 210 }, (_, i) => i));
    expect(p.live.stats).toEqual({ sent: 210, dropped: 0 });
  });

  it('a tick of more than a few hundred KiB goes in several writes, and a client that reads nothing is queued for and dropped to', async () => {
    const hub = new Hub(options);
    const p = await pair(hub);
    // The client stops reading: the kernel's buffers fill, then the socket's.
    (p.client as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'x'.repeat(8 * 1024);
    const before = p.writes();
    for (let i = 0; i < 100; i++) hub.publish('inferences', JSON.stringify({ sensorId: 's1', seq: i, big }), { sensorId: 's1', group: 'g' });
    await new Promise((r) => setImmediate(r));
    // 800 KiB in one tick: written 256 KiB at a time.
    expect(p.writes() - before).toBeGreaterThanOrEqual(3);
    for (let round = 0; round < 40 && p.live.stats.dropped === 0; round++) {
      for (let i = 0; i < 100; i++) hub.publish('inferences', JSON.stringify({ sensorId: 's1', seq: i, big }), { sensorId: 's1', group: 'g' });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(p.live.pending()).toBeGreaterThan(0);
    expect(p.live.stats.dropped).toBeGreaterThan(0);
  });
});
