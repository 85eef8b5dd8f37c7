// The live fan-out: messages from the processor's topics go to the WebSocket clients that asked
// for them, each client behind its own bounded queue, so one slow client never holds up another.
//
// Protocol (JSON text frames):
//   client → { "op": "subscribe", "id"?: string, "kinds": ["inferences", "sessions", "status"],
//              "sensors"?: [ids], "groups"?: [ids] }      (neither sensors nor groups: everything)
//            { "op": "unsubscribe", "id": string }        (the id the subscribe gave or was given)
//   server → { "type": "subscribed", "id", "kinds", "sensors", "groups" }
//            { "type": "inferences" | "sessions" | "status", "data": <the record> }
//            { "type": "dropped", "count": n }   n messages were dropped for this client since the last notice
//            { "type": "error", "code", "message" }   a bad request; the connection stays open
// A subscriber first gets the current state of what it asked for (the latest inference of each
// matching sensor, the active sessions of matching groups, the latest status of all
// gateways), then live messages in the order the hub received them. Status messages are per
// gateway: a status subscription takes every gateway's, whatever its sensors and groups.
//
// Slow consumers: while a client's socket has more than `highWaterBytes` unsent, its messages
// wait in its queue of at most `maxQueue`; when the queue is full the oldest is dropped and
// counted, and the client is told how many before its next message. A client whose queue stays
// full for `closeAfterMs` is closed with code 4008 ("slow consumer"). What goes to a client in
// one tick is written to its socket at once (one system call, not one per message).

import type { WebSocket } from 'ws';
import { presetLayoutNames } from '../../dsp/src/index.js';

export type LiveKind = 'inferences' | 'sessions' | 'status';
export const LIVE_KINDS: readonly LiveKind[] = ['inferences', 'sessions', 'status'];

export interface HubOptions {
  highWaterBytes: number;
  maxQueue: number;
  closeAfterMs: number;
}

export const SLOW_CONSUMER_CLOSE = 4008;

/** A client's messages of one tick are held for one write up to this many bytes. */
const CORK_BYTES = 256 * 1024;

export interface Subscription {
  id: string;
  kinds: Set<LiveKind>;
  sensors: Set<string> | null;
  groups: Set<string> | null;
  /** One session's events only (`/ws/session/:id`). */
  sessionId?: string;
}

/** One message, encoded once for every client it goes to. */
interface Encoded {
  bytes: Buffer;
}

export class LiveClient {
  readonly subs = new Map<string, Subscription>();
  private queue: Encoded[] = [];
  private head = 0;
  private dropped = 0;
  private fullSince: number | null = null;
  private nextId = 1;
  /** Stamp of the last publish that reached this client (so one publish sends once). */
  stamp = 0;
  closed = false;
  stats = { sent: 0, dropped: 0 };
  private corked: { socket: { cork(): void; uncork(): void }; unsent: number } | null = null;

  constructor(
    readonly ws: WebSocket,
    private readonly o: HubOptions,
  ) {}

  newId(): string {
    return `s${this.nextId++}`;
  }

  /** Sends now if the socket keeps up, else queues (dropping the oldest when full). */
  /** While held, messages wait in the queue (the current state goes first, then they follow). */
  holding = false;

  deliver(msg: Encoded): void {
    if (this.closed) return;
    if (!this.holding && this.queue.length - this.head === 0 && this.unsent() < this.o.highWaterBytes) {
      this.write(msg);
      return;
    }
    this.queue.push(msg);
    if (this.queue.length - this.head > this.o.maxQueue) {
      this.head++;
      this.dropped++;
      this.stats.dropped++;
      this.fullSince ??= Date.now();
    }
    this.pump();
  }

  /** Moves queued messages to the socket while it keeps up; closes a client stuck too long. */
  pump(): void {
    if (this.closed || this.holding) return;
    while (this.queue.length - this.head > 0 && this.unsent() < this.o.highWaterBytes) {
      this.write(this.queue[this.head++]!);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.queue.length - this.head < this.o.maxQueue) this.fullSince = null;
    else if (this.fullSince !== null && Date.now() - this.fullSince > this.o.closeAfterMs) {
      this.closed = true;
      // What is still queued is dropped too; the count goes out behind what the client has not
      // read yet, then the close.
      const queued = this.queue.length - this.head;
      this.dropped += queued;
      this.stats.dropped += queued;
      this.queue = [];
      this.head = 0;
      if (this.dropped) this.ws.send(`{"type":"dropped","count":${this.dropped}}`);
      this.dropped = 0;
      this.ws.close(SLOW_CONSUMER_CLOSE, `slow consumer: ${this.stats.dropped} messages dropped, queue full for over ${this.o.closeAfterMs} ms`);
    }
  }

  private write(msg: Encoded): void {
    // What goes to the client in this tick (a batch of records fans out in one) leaves in one write
    // instead of one system call per message, up to CORK_BYTES at a time.
    if (!this.corked) {
      const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } | null })._socket;
      if (socket) {
        this.corked = { socket, unsent: this.ws.bufferedAmount };
        socket.cork();
        process.nextTick(() => this.uncork());
      }
    }
    if (this.dropped) {
      this.ws.send(`{"type":"dropped","count":${this.dropped}}`);
      this.dropped = 0;
    }
    this.ws.send(msg.bytes, { binary: false });
    this.stats.sent++;
    if (this.corked && this.ws.bufferedAmount - this.corked.unsent > CORK_BYTES) this.uncork();
  }

  private uncork(): void {
    const c = this.corked;
    this.corked = null;
    c?.socket.uncork();
  }

  /** Bytes the client has not taken yet (without those held for this tick's write). */
  private unsent(): number {
    return this.corked ? this.corked.unsent : this.ws.bufferedAmount;
  }

  sendJson(value: unknown): void {
    if (!this.closed) this.ws.send(JSON.stringify(value));
  }

  pending(): number {
    return this.queue.length - this.head;
  }
}

/** What a record is about, for routing. */
export interface Routing {
  sensorId?: string;
  group?: string;
  /** For sessions: its id (the latest state keeps active sessions by id). */
  sessionId?: string;
  /** For sessions: ended sessions leave the latest state. */
  ended?: boolean;
  /** For status: the gateway (the latest state keeps each gateway's newest status). */
  gatewayId?: string;
}

export class Hub {
  readonly clients = new Set<LiveClient>();
  /** Routing index: `${kind}|s|${sensor}`, `${kind}|g|${group}`, `${kind}|*` → clients. */
  private readonly index = new Map<string, Set<LiveClient>>();
  private stampNo = 0;
  /** Latest state for late joiners. */
  private readonly latestInference = new Map<string, { group: string; bytes: Buffer; json: string; receivedAt: number }>();
  private readonly latestStatus = new Map<string, { group: string; bytes: Buffer }>();
  private readonly activeSessions = new Map<string, { group: string; bytes: Buffer }>();
  private readonly timer: NodeJS.Timeout;
  published = 0;
  /** Feature names by layout id: the shipped presets', then those the gateways' births give. */
  readonly layoutNames: Map<number, readonly string[]> = presetLayoutNames();

  constructor(readonly options: HubOptions) {
    // Queued messages move on as sockets drain.
    this.timer = setInterval(() => {
      for (const c of this.clients) if (c.pending()) c.pump();
    }, 20);
    this.timer.unref();
  }

  add(ws: WebSocket): LiveClient {
    const c = new LiveClient(ws, this.options);
    this.clients.add(c);
    return c;
  }

  remove(c: LiveClient): void {
    c.closed = true;
    for (const id of [...c.subs.keys()]) this.unsubscribe(c, id);
    this.clients.delete(c);
  }

  private keys(s: Subscription): string[] {
    const out: string[] = [];
    if (s.sessionId !== undefined) return [`sessions|id|${s.sessionId}`];
    for (const k of s.kinds) {
      if ((!s.sensors && !s.groups) || k === 'status') out.push(`${k}|*`);
      if (k === 'status') continue;
      for (const id of s.sensors ?? []) out.push(`${k}|s|${id}`);
      for (const g of s.groups ?? []) out.push(`${k}|g|${g}`);
    }
    return out;
  }

  subscribe(c: LiveClient, s: Subscription): void {
    c.subs.set(s.id, s);
    for (const key of this.keys(s)) {
      let set = this.index.get(key);
      if (!set) this.index.set(key, (set = new Set()));
      set.add(c);
    }
    if (s.sessionId !== undefined) return; // its current state comes from the store
    // The current state of what was asked for, then live messages.
    const wants = (sensorId: string | undefined, group: string) => (!s.sensors && !s.groups) || (sensorId !== undefined && s.sensors?.has(sensorId)) || s.groups?.has(group);
    if (s.kinds.has('inferences')) for (const [sensorId, x] of this.latestInference) if (wants(sensorId, x.group)) c.deliver({ bytes: x.bytes });
    // Status is per gateway: every status subscription takes all of it.
    if (s.kinds.has('status')) for (const x of this.latestStatus.values()) c.deliver({ bytes: x.bytes });
    if (s.kinds.has('sessions')) for (const x of this.activeSessions.values()) if (wants(undefined, x.group)) c.deliver({ bytes: x.bytes });
  }

  unsubscribe(c: LiveClient, id: string): boolean {
    const s = c.subs.get(id);
    if (!s) return false;
    c.subs.delete(id);
    // Keep the client on keys another of its subscriptions still holds.
    const still = new Set([...c.subs.values()].flatMap((x) => this.keys(x)));
    for (const key of this.keys(s)) {
      if (still.has(key)) continue;
      const set = this.index.get(key);
      set?.delete(c);
      if (set?.size === 0) this.index.delete(key);
    }
    return true;
  }

  /**
   * One record of a topic: `json` is the record's JSON text, sent as `data` without parsing it
   * again. Not `live` (read back at start): it updates the current state only.
   */
  publish(kind: LiveKind, json: string, r: Routing, live = true): void {
    const bytes = Buffer.from(`{"type":"${kind}","data":${json}}`);
    const msg = { bytes };
    this.published++;
    if (kind === 'inferences' && r.sensorId) this.latestInference.set(r.sensorId, { group: r.group ?? '', bytes, json, receivedAt: Date.now() });
    if (kind === 'status' && r.gatewayId !== undefined) this.latestStatus.set(r.gatewayId, { group: '', bytes });
    if (kind === 'sessions' && r.sessionId) {
      if (r.ended) this.activeSessions.delete(r.sessionId);
      else this.activeSessions.set(r.sessionId, { group: r.group ?? '', bytes });
    }
    if (!live) return;
    const stamp = ++this.stampNo;
    const to = (set: Set<LiveClient> | undefined) => {
      if (!set) return;
      for (const c of set) {
        if (c.stamp === stamp) continue;
        c.stamp = stamp;
        c.deliver(msg);
      }
    };
    to(this.index.get(`${kind}|*`));
    if (r.sensorId) to(this.index.get(`${kind}|s|${r.sensorId}`));
    if (r.group) to(this.index.get(`${kind}|g|${r.group}`));
    if (r.sessionId) to(this.index.get(`${kind}|id|${r.sessionId}`));
  }

  /** The latest inference record of every sensor seen (its JSON text, and when it came). */
  sensors(): IterableIterator<[string, { group: string; json: string; receivedAt: number }]> {
    return this.latestInference.entries();
  }

  sensor(id: string): { group: string; json: string; receivedAt: number } | undefined {
    return this.latestInference.get(id);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
