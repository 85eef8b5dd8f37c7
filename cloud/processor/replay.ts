// `edgewave processor replay`: archived frames (the S3 Parquet archive, cloud/store/archive.ts) fed
// through the processor's engine, the same code with the same config, into a chosen output:
// JSON lines (a file or stdout) or Kafka topics.
//
// Order: hour by hour; within an hour, group by group; within a group, its objects in Kafka order
// (source topic, partition, first offset) and their rows as archived. A group's frames thus come in
// the order the live processor read them, so its windows, classes and sessions are the same (at an
// hour's edge, frames of different sensors may interleave differently than they did live).

import { createWriteStream, type WriteStream } from 'node:fs';
import type { Producer } from 'kafkajs';
import { loadDsp } from '../../dsp/src/index.js';
import type { Logger } from '../../protocol/index.js';
import { createKafka } from '../common/kafka.js';
import { openObjects, type ObjectStore } from '../common/objects.js';
import { createS3 } from '../common/s3.js';
import { ActivityModel } from '../model/model.js';
import { ModelSource } from '../model/source.js';
import { parseArchiveKey, parquetToFrames } from '../store/archive.js';
import type { ProcessorConfig } from './config.js';
import { Engine, type EngineOutput } from './engine.js';
import { engineOptionsFor, modelLayout } from './processor.js';
import { inferenceJson, inferenceMessages, sessionMessages } from './records.js';

export interface ReplayOptions {
  /** The archive: s3://bucket/prefix, or file:///path of a directory. */
  from: string;
  /** Frames whose first sample is in [since, until), µs. */
  since: number;
  until: number;
  /** `jsonl:<path>`, `jsonl:-` (stdout), or `kafka:<inferences topic>,<sessions topic>`. */
  to: string;
  /** Only these groups (default: all). */
  groups?: readonly string[];
  /** Progress, once per object. */
  onProgress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  objects: number;
  totalObjects: number;
  frames: number;
  windows: number;
  sessionEvents: number;
}

interface ArchivedObject {
  key: string;
  hour: string;
  group: string;
  source: string;
  partition: number;
  first: bigint;
}

/** The archive's objects for [since, until), in replay order. */
export async function listArchive(objects: ObjectStore, since: number, until: number): Promise<ArchivedObject[]> {
  const out: ArchivedObject[] = [];
  const HOUR = 3600e6;
  for (let h = Math.floor(since / HOUR) * HOUR; h < until; h += HOUR) {
    const iso = new Date(h / 1000).toISOString();
    for (const kind of ['raw', 'features']) {
      for (const key of await objects.list(`${kind}/date=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/`)) {
        const k = parseArchiveKey(key);
        if (k) out.push({ key, hour: `${k.date}T${k.hour}`, group: k.group, source: k.source, partition: k.partition, first: k.first });
      }
    }
  }
  const cmp = (a: string | bigint | number, b: string | bigint | number) => (a < b ? -1 : a > b ? 1 : 0);
  return out.sort((a, b) => cmp(a.hour, b.hour) || cmp(a.group, b.group) || cmp(a.source, b.source) || cmp(a.partition, b.partition) || cmp(a.first, b.first) || cmp(a.key, b.key));
}

interface Output {
  write(out: EngineOutput, classes: readonly string[] | undefined): Promise<void>;
  close(): Promise<void>;
}

async function openOutput(to: string, config: ProcessorConfig, log: Logger): Promise<Output> {
  if (to.startsWith('jsonl:')) {
    const path = to.slice('jsonl:'.length);
    const stream: NodeJS.WritableStream = path === '-' ? process.stdout : createWriteStream(path);
    const put = (line: string) => (stream.write(line) ? Promise.resolve() : new Promise<void>((r) => void stream.once('drain', () => r())));
    return {
      async write(out, classes) {
        const classesJson = JSON.stringify(classes ?? []);
        for (const w of out.windows) await put(`{"type":"inference","value":${inferenceJson(w, classesJson)}}\n`);
        for (const e of out.sessions) await put(`${JSON.stringify({ type: 'session', value: e })}\n`);
      },
      close: () => (path === '-' ? Promise.resolve() : new Promise<void>((r) => (stream as WriteStream).end(() => r()))),
    };
  }
  const m = /^kafka:([^,\s]+),([^,\s]+)$/.exec(to);
  if (!m) throw new Error(`--to: expected jsonl:<path>, jsonl:- or kafka:<inferences topic>,<sessions topic>, got ${to}`);
  const kafka = createKafka(config.kafka, log, { initialRetryTime: 200, retries: 10 });
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  return {
    async write(out, classes) {
      const topicMessages = [
        { topic: m[1]!, messages: inferenceMessages(out.windows, JSON.stringify(classes ?? [])) },
        // An event's parts go to one partition in one request: one record batch, all or none.
        { topic: m[2]!, messages: sessionMessages(out.sessions, config.kafka.maxRecordBytes - 4096) },
      ].filter((t) => t.messages.length);
      if (topicMessages.length) await producer.sendBatch({ topicMessages, acks: -1 });
    },
    close: () => producer.disconnect(),
  };
}

export async function replay(config: ProcessorConfig, o: ReplayOptions, log: Logger): Promise<ReplayProgress> {
  if (!(o.since < o.until)) throw new Error(`--since must be before --until`);
  const s3 = createS3(config.s3);
  const dsp = await loadDsp();
  const modelBytes = await ModelSource.of(config.model.path, () => s3).read();
  const model = await ActivityModel.load(modelBytes.bytes, { layout: modelLayout(config), backend: config.model.backend });
  const engine = new Engine(engineOptionsFor(config, dsp, model));
  const store = openObjects(o.from, () => s3);
  const objects = await listArchive(store, o.since, o.until);
  const groups = o.groups?.length ? new Set(o.groups) : null;
  const todo = groups ? objects.filter((x) => groups.has(x.group)) : objects;
  const output = await openOutput(o.to, config, log);
  const progress: ReplayProgress = { objects: 0, totalObjects: todo.length, frames: 0, windows: 0, sessionEvents: 0 };
  const count = (out: EngineOutput) => {
    progress.windows += out.windows.length;
    progress.sessionEvents += out.sessions.length;
  };
  try {
    for (const obj of todo) {
      const frames = (await parquetToFrames(await store.get(obj.key))).filter((f) => f.t0 >= o.since && f.t0 < o.until);
      for (let i = 0; i < frames.length; i += 2000) {
        const out = await engine.process(frames.slice(i, i + 2000));
        count(out);
        await output.write(out, model.info.classes);
      }
      progress.frames += frames.length;
      progress.objects++;
      o.onProgress?.({ ...progress });
    }
    const out = await engine.drain();
    count(out);
    await output.write(out, model.info.classes);
  } finally {
    await output.close();
    await model.close();
    s3.destroy();
  }
  return progress;
}
