// Publishes the outbox over MQTT v5 (mqtt.js), QoS 1, and removes a record only on the broker's
// PUBACK. The outbox is the source of truth: each connection is a fresh client without mqtt.js's
// own reconnect or resend; when a connection drops, every record in flight goes back to the outbox
// and is published again on the next one (downstream drops duplicates by (sensorId, seq)).
// Reconnects back off exponentially with full jitter. A retained birth message goes to the status
// topic on connect, a retained will says the gateway died, and a clean stop says it stopped.

import { tlsOptions } from '../protocol/node-support.js';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Outbox } from './outbox/outbox.js';

export interface PublisherOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  keepaliveS: number;
  /** Most records published and not yet acknowledged. */
  inFlight: number;
  /** MQTT 5 (default) or 4 (3.1.1). */
  protocolVersion?: 4 | 5;
  backoff: { minMs: number; maxMs: number };
  statusTopic: string;
  /** Retained on the status topic at each connect. */
  birth: () => Record<string, unknown>;
  connectTimeoutMs?: number;
}

export interface PublisherStats {
  connected: boolean;
  connects: number;
  reconnects: number;
  published: number;
  acked: number;
  failed: number;
}

export class Publisher {
  private client: MqttClient | undefined;
  private generation = 0;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  /** Record id → the connection generation it was published on. */
  private inFlight = new Map<number, number>();
  readonly stats: PublisherStats = { connected: false, connects: 0, reconnects: 0, published: 0, acked: 0, failed: 0 };

  constructor(
    private readonly outbox: Outbox,
    private readonly options: PublisherOptions,
    private readonly log: Logger,
    private readonly onAck?: (latencyMs: number) => void,
  ) {}

  start(): void {
    this.connect();
  }

  /** New records are in the outbox. */
  wake(): void {
    void this.pump();
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const o = this.options;
    const opts: IClientOptions = {
      protocolVersion: o.protocolVersion ?? 5,
      clientId: o.clientId,
      clean: true,
      reconnectPeriod: 0,
      keepalive: o.keepaliveS,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      username: o.username,
      password: o.password,
      will: { topic: o.statusTopic, payload: Buffer.from(JSON.stringify({ state: 'offline', reason: 'lost', at: new Date().toISOString() })), qos: 1, retain: true },
    };
    Object.assign(opts, tlsOptions(o.tls));
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this.stats.connected = true;
      this.stats.connects++;
      if (this.attempt > 0) this.stats.reconnects++;
      this.attempt = 0;
      this.log.info({ url: o.url, clientId: o.clientId, backlog: this.outbox.stats().depthRecords }, 'connected to the broker');
      client.publish(o.statusTopic, JSON.stringify({ state: 'online', at: new Date().toISOString(), ...o.birth() }), { qos: 1, retain: true });
      void this.pump();
    });
    client.on('error', (err) => {
      // Each failed attempt errs; say it once per outage, the rest at debug.
      if (gen === this.generation) this.log[this.attempt <= 1 ? 'warn' : 'debug']({ err: err.message, url: o.url, attempt: this.attempt }, 'MQTT error');
    });
    client.on('close', () => {
      if (gen !== this.generation) return;
      this.dropConnection(client);
    });
  }

  /** The connection is gone: its records go back to the outbox, and a new one is tried after a backoff. */
  private dropConnection(client: MqttClient): void {
    const wasConnected = this.stats.connected;
    this.stats.connected = false;
    this.generation++;
    client.removeAllListeners('close');
    client.on('error', () => undefined);
    client.end(true);
    const back = [...this.inFlight.keys()];
    this.inFlight.clear();
    this.outbox.release(back);
    if (this.stopped) return;
    // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter").
    const cap = Math.min(this.options.backoff.maxMs, this.options.backoff.minMs * 2 ** this.attempt);
    const delay = Math.round(this.options.backoff.minMs / 2 + Math.random() * (cap - this.options.backoff.minMs / 2));
    this.attempt++;
    if (wasConnected || this.attempt === 1) this.log.warn({ retryInMs: delay, released: back.length }, 'lost the broker; retrying');
    this.retry = setTimeout(() => this.connect(), delay);
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const client = this.client;
        const gen = this.generation;
        if (!client || !this.stats.connected) return;
        const room = this.options.inFlight - this.inFlight.size;
        if (room <= 0) return;
        // Oldest first, so each sensor's frames reach the broker in order; the in-flight window
        // paces a backlog at the rate the broker acknowledges, while new frames keep being stored.
        const records = await this.outbox.take(room);
        if (gen !== this.generation) {
          this.outbox.release(records.map((r) => r.id));
          return;
        }
        for (const r of records) {
          const at = performance.now();
          this.inFlight.set(r.id, gen);
          this.stats.published++;
          client.publish(r.topic, Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength), { qos: 1 }, (err) => {
            const mine = this.inFlight.get(r.id);
            if (err) {
              // The connection is going; dropConnection releases what is in flight.
              if (mine === gen) this.stats.failed++;
              return;
            }
            this.outbox.ack(r.id);
            this.stats.acked++;
            const latency = performance.now() - at;
            this.onAck?.(latency);
            if (mine === gen) this.inFlight.delete(r.id);
            void this.pump();
          });
        }
        if (!records.length) return;
      } while (this.pumpAgain || this.inFlight.size < this.options.inFlight);
    } finally {
      this.pumping = false;
    }
  }

  /** Publishes a retained status message now, if connected (the outbox holds data, not status). */
  status(fields: Record<string, unknown>): void {
    if (this.stats.connected) this.client?.publish(this.options.statusTopic, JSON.stringify({ state: 'online', at: new Date().toISOString(), ...this.options.birth(), ...fields }), { qos: 1, retain: true });
  }

  /** Waits up to `ms` for everything in the outbox to be acknowledged. */
  async drain(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.outbox.stats().depthRecords === 0) return true;
      void this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.outbox.stats().depthRecords === 0;
  }

  /** Says the gateway stopped (retained), then disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    if (!client) return;
    if (this.stats.connected) {
      await new Promise<void>((resolve) => {
        client.publish(this.options.statusTopic, JSON.stringify({ state: 'offline', reason: 'stopped', at: new Date().toISOString() }), { qos: 1, retain: true }, () => resolve());
        setTimeout(resolve, 2000).unref();
      });
    }
    this.generation++;
    await client.endAsync().catch(() => undefined);
    this.stats.connected = false;
    const back = [...this.inFlight.keys()];
    this.inFlight.clear();
    this.outbox.release(back);
  }
}
