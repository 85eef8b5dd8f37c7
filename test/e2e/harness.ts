// The end-to-end runs' toolkit: edgewave components as processes (their logs under
// .run/test-logs/e2e/), waiting on them, stopping them with a signal, the agents' ground truth (what
// each sensor sent, from seq.json and, after a crash, from the outbox on disk), and the outputs
// (the inference topic read with read_committed, a WebSocket client of the API).

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import WebSocket from 'ws';
import { inferenceLines } from '../../cloud/processor/records.js';
import { Outbox } from '../../edge/outbox/outbox.js';
import { decodeBatch, decodeFrame, decodeRecord, isTick, type Frame } from '../../protocol/index.js';
import type { Observed } from './accounting.js';

export { freePort } from '../../scripts/servers/process.js';

const root = new URL('../../', import.meta.url).pathname;
const logDir = join(root, '.run', 'test-logs', 'e2e');
mkdirSync(logDir, { recursive: true });

export interface Proc {
  name: string;
  proc: ChildProcess;
  log: string;
}

/** `edgewave <component> --config <file>`; stdout and stderr go to .run/test-logs/e2e/<name>.log. */
export function start(dir: string, name: string, component: string, config: unknown): Proc {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const log = join(logDir, `${name}.log`);
  writeFileSync(log, '');
  const proc = spawn(process.execPath, [join(root, 'bin/edgewave.js'), component, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => appendFileSync(log, d));
  proc.stderr!.on('data', (d: Buffer) => appendFileSync(log, d));
  return { name, proc, log };
}

/** Polls `f` until it gives a value; fails after `ms`, or as soon as one of `procs` has exited. */
export async function until<T>(what: string, ms: number, f: () => Promise<T | undefined> | T | undefined, procs: Proc[] = []): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    for (const p of procs) if (p.proc.exitCode !== null) throw new Error(`${p.name} exited (${p.proc.exitCode}) while waiting for ${what}; log: ${p.log}`);
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until the process answers 200 on `path` of its status port. */
export const ready = (p: Proc, port: number, path = '/ready') =>
  until(`${p.name} ${path}`, 60_000, async () => ((await fetch(`http://127.0.0.1:${port}${path}`).catch(() => null))?.ok ? true : undefined), [p]);

/** An API config for a run: open access, the live feed from now on, sessions from `database`. */
export function apiConfig(o: { port: number; mongodbUrl: string; database: string; brokers: string[]; topics: { inferences: string; sessions: string; status: string }; groupPrefix: string }) {
  return {
    http: { port: o.port },
    mongodb: { url: o.mongodbUrl, database: o.database },
    kafka: { brokers: o.brokers, topics: { inferences: o.topics.inferences, sessions: o.topics.sessions, status: o.topics.status }, groupPrefix: o.groupPrefix },
    auth: { open: true },
    live: { lookbackS: 0 },
    logLevel: 'info',
  };
}

/** Stops a process with a signal and waits for its exit (SIGTERM gets 30 s, then SIGKILL). */
export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return p.proc.exitCode;
  const exited = new Promise<number | null>((r) => p.proc.once('exit', (code) => r(code)));
  p.proc.kill(signal);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** A sensor's numbers from seq.json: after a clean stop, exactly how many frames each sent; after a crash, where each continues. */
export function seqFile(dataDir: string): Map<string, number> {
  const path = join(dataDir, 'seq.json');
  if (!existsSync(path)) return new Map();
  return new Map(Object.entries(JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>));
}

/** The highest seq of each sensor among the frames an agent's outbox holds (read while the agent is down). */
export async function outboxHighest(dataDir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const outbox = Outbox.open(join(dataDir, 'outbox'), { maxBytes: 1 << 30, fsync: 'none' });
  try {
    for (;;) {
      const records = await outbox.take(1000);
      if (!records.length) break;
      for (const r of records) {
        if (r.kind === 'other') continue;
        const frames = r.topic.endsWith('/batch') ? decodeBatch(r.payload, { maxFutureMs: Infinity }) : [decodeFrame(r.payload, { maxFutureMs: Infinity })];
        for (const f of frames) out.set(f.sensorId, Math.max(out.get(f.sensorId) ?? -1, f.seq));
      }
    }
    outbox.releaseAll();
  } finally {
    await outbox.close();
  }
  return out;
}

/** Inference records as an output holds them: every (sensorId, seq), copies included, and each window's label and features by `sensorId@t0`. */
class Inferences {
  readonly seen: Observed[] = [];
  readonly labels = new Map<string, string>();
  readonly features = new Map<string, string>();
  add(r: { sensorId: string; seq: number; t0: number; label: string; features: string }): void {
    this.seen.push({ sensorId: r.sensorId, seq: r.seq });
    this.labels.set(`${r.sensorId}@${r.t0}`, r.label);
    this.features.set(`${r.sensorId}@${r.t0}`, r.features);
  }
}

/** The inference topic, read_committed; `stop` ends the reading. */
export async function readInferences(kafka: Kafka, topic: string, groupId: string): Promise<Inferences & { stop: () => Promise<void> }> {
  const out = new Inferences();
  const consumer = kafka.consumer({ groupId, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      for (const line of inferenceLines(message.value!.toString())) out.add(JSON.parse(line));
    },
  });
  return Object.assign(out, { stop: () => consumer.disconnect() });
}

/** A WebSocket client of the API subscribed to every inference. */
export async function wsInferences(apiPort: number): Promise<Inferences & { close: () => void }> {
  const out = new Inferences();
  const ws = new WebSocket(`ws://127.0.0.1:${apiPort}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let subscribed = false;
  ws.on('message', (b) => {
    const m = JSON.parse(b.toString()) as { type: string; data: Parameters<Inferences['add']>[0] };
    if (m.type === 'subscribed') subscribed = true;
    if (m.type === 'inferences') out.add(m.data);
  });
  ws.send(JSON.stringify({ op: 'subscribe', kinds: ['inferences'] }));
  await until('the WebSocket subscription', 10_000, () => (subscribed ? true : undefined));
  return Object.assign(out, { close: () => ws.close() });
}

/** Every record of a topic to its current end, per partition in offset order, as the frames each holds. */
export async function readRecords(kafka: Kafka, topic: string, groupId: string): Promise<Frame[][]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  await admin.disconnect();
  const byPartition = new Map<number, Frame[][]>();
  const left = new Set([...ends].filter(([, high]) => high > 0).map(([p]) => p));
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 8 << 20, maxBytes: 32 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    if (!left.size) return resolve();
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          let list = byPartition.get(batch.partition);
          if (!list) byPartition.set(batch.partition, (list = []));
          for (const m of batch.messages) {
            if (Number(m.offset) + 1 >= ends.get(batch.partition)!) left.delete(batch.partition);
            // The bridges' ticks carry no frames.
            if (isTick(m.headers)) continue;
            const u = new Uint8Array(m.value!.buffer, m.value!.byteOffset, m.value!.byteLength);
            list.push(decodeRecord(u, { maxFutureMs: Infinity, copy: true }));
          }
          if (!left.size) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return [...byPartition.keys()].sort((a, b) => a - b).flatMap((p) => byPartition.get(p)!);
}
