// Shared by the processor's tests on real Kafka (processor.int.test.ts) and on the embedded mode's
// in-process log (memory.test.ts): topics, simulated edge frames as the bridge produces them, a
// read_committed reader of the outputs, and the reference run the outputs must equal.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { expect } from 'vitest';
import { ActivityModel } from '../../../cloud/model/model.js';
import { SHIPPED_MODEL } from '../../../cloud/processor/config.js';
import { Engine, f32ToBase64 } from '../../../cloud/processor/engine.js';
import { inferenceLines, SessionAssembler, type InferenceRecord, type SessionRecord } from '../../../cloud/processor/records.js';
import type { SessionEvent } from '../../../cloud/processor/sessions.js';
import { featureLayout, parseFeatureConfig, presetSettings, type DspModule } from '../../../dsp/src/index.js';
import { Pipeline } from '../../../edge/pipeline.js';
import { SeqStore } from '../../../edge/seq-store.js';
import { Simulator } from '../../../edge/simulator.js';
import { decodeBatch, encodeBatch, type Frame } from '../../../protocol/index.js';
import { uniqueName } from '../../config.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-processor-harness-'));

export function topicsFor(name: string) {
  return { raw: `${name}.raw`, features: `${name}.features`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` };
}

/** The processor's topics, 4 partitions each; `maxMessageBytes` sets the output topics' max.message.bytes. */
export async function createTopics(kafka: Kafka, topics: ReturnType<typeof topicsFor>, maxMessageBytes?: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const limit = (k: string) => (maxMessageBytes !== undefined && ['inferences', 'sessions', 'deadletter'].includes(k) ? [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] : []);
  await admin.createTopics({
    topics: Object.entries(topics).map(([k, topic]) => ({ topic, numPartitions: 4, configEntries: [...(k === 'processorState' ? [{ name: 'cleanup.policy', value: 'compact' }] : []), ...limit(k)] })),
    waitForLeaders: true,
  });
  await admin.disconnect();
}

/** Edge feature frames (or raw frames) of simulated sensors, in the order an edge agent sends them, as the bridge would produce them: one batch per group per flush. */
export async function edgeFrames(dsp: DspModule, sensors: number, seconds: number, mode: 'features' | 'raw' | 'both' = 'features', groups = 6): Promise<Frame[][]> {
  const p = new Pipeline({ gatewayId: 'gw-p', topicRoot: 'edgewave', dsp, seq: SeqStore.open(join(dir, `seq-${Math.random()}.json`)), capacity: sensors, features: presetSettings('uplink') });
  const sim = new Simulator({ sensors, sampleRate: 200, seed: 9, groups, dropoutsPerHour: 0, meanDwellS: 12, mix: { idle: 1, walking: 3, running: 2, jumping: 1, fall: 0.1 } });
  for (const x of sim.sensors) p.register({ sensorId: x.sensorId, group: x.group, sampleRate: 200, mode, decimate: 1 });
  const out: Frame[][] = [];
  for (let k = 0; k < (seconds * 200) / 10; k++) {
    const st = sim.next(10);
    sim.sensors.forEach((x, i) => p.add(x.sensorId, st.samples[i]!, 1_795_000_000_000_000 + k * 50_000));
    for (const item of p.flush().items) {
      const byGroup = new Map<string, Frame[]>();
      for (const f of decodeBatch(item.payload, { maxFutureMs: Infinity, copy: true })) {
        let g = byGroup.get(f.group);
        if (!g) byGroup.set(f.group, (g = []));
        g.push(f);
      }
      out.push(...byGroup.values());
    }
  }
  return out;
}

/** Every window of the frames, as the output reader names them: `<sensorId>@<window start, µs>`. */
export function windowKeys(batches: Frame[][]): Set<string> {
  return new Set(batches.flat().flatMap((f) => Array.from({ length: f.count }, (_, i) => `${f.sensorId}@${f.t0 + Math.round((i * f.hop * 1e6) / f.sampleRate)}`)));
}

/** Reads inferences and session events (read_committed). */
export class OutputReader {
  readonly windows = new Map<string, number>();
  readonly labels = new Map<string, string>();
  /** Each window's features: base64 of their float32 bytes. */
  readonly features = new Map<string, string>();
  readonly sessions = new Map<string, SessionEvent[]>();
  readonly dead: { reason: string; value: Buffer; bytes: number }[] = [];
  /** Windows in a record whose key is not their group. */
  readonly wrongKeys: string[] = [];
  /** Inference records read, and the windows in them. */
  inferenceRecords = 0;
  /** Session records read, how many of them were parts of an event, and the largest's bytes. */
  sessionRecords = 0;
  sessionParts = 0;
  largestSessionRecord = 0;
  private readonly assemblers = new Map<number, SessionAssembler>();
  private consumer: Consumer | undefined;
  constructor(private readonly kafka: Kafka, private readonly topics: ReturnType<typeof topicsFor>) {}
  async start(): Promise<this> {
    this.consumer = this.kafka.consumer({ groupId: uniqueName('out-reader'), maxWaitTimeInMs: 100, readUncommitted: false });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topics.inferences, this.topics.sessions, this.topics.deadletter], fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        if (topic === this.topics.deadletter) {
          this.dead.push({ reason: String(message.headers?.['ew-reason']), value: message.value!, bytes: Number(String(message.headers?.['ew-bytes'])) });
          return;
        }
        if (topic === this.topics.sessions) {
          this.sessionRecords++;
          this.largestSessionRecord = Math.max(this.largestSessionRecord, message.value!.length);
          const r = JSON.parse(message.value!.toString()) as SessionRecord;
          if (r.part) this.sessionParts++;
          let a = this.assemblers.get(partition);
          if (!a) this.assemblers.set(partition, (a = new SessionAssembler()));
          const e = a.add(r);
          if (!e) return;
          let list = this.sessions.get(e.session.group);
          if (!list) this.sessions.set(e.session.group, (list = []));
          list.push(e);
          return;
        }
        // An inference record: windows of one group, a JSON line each.
        this.inferenceRecords++;
        for (const line of inferenceLines(message.value!.toString())) {
          const v = JSON.parse(line) as InferenceRecord;
          if (v.group !== message.key?.toString()) this.wrongKeys.push(`${v.sensorId}@${v.t0}: group ${v.group}, key ${message.key?.toString()}`);
          const k = `${v.sensorId}@${v.t0}`;
          this.windows.set(k, (this.windows.get(k) ?? 0) + 1);
          this.labels.set(k, v.label!);
          this.features.set(k, v.features);
        }
      },
    });
    return this;
  }
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${this.windows.size} windows read)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  /** Waits for every expected window, lets anything that would be a duplicate arrive (`settleMs`), and checks each came once. */
  async expectEachOnce(expected: ReadonlySet<string>, ms: number, settleMs: number): Promise<void> {
    await this.until(() => [...expected].every((k) => this.windows.has(k)), ms, 'every window');
    await new Promise((r) => setTimeout(r, settleMs));
    expect([...this.windows].filter(([, n]) => n > 1), 'windows seen more than once').toEqual([]);
    expect(this.windows.size).toBe(expected.size);
  }
  stop(): Promise<void> {
    return this.consumer!.disconnect();
  }
}

/** Sends the batches in 40 steps 300 ms apart (about 12 s), keyed by group as the bridge keys them; `onStep` sees each step's batches before they go. */
export async function feed(producer: Producer, topic: string, batches: Frame[][], onStep?: (step: Frame[][]) => void): Promise<void> {
  const per = Math.ceil(batches.length / 40);
  for (let i = 0; i < batches.length; i += per) {
    const step = batches.slice(i, i + per);
    onStep?.(step);
    await producer.send({ topic, messages: step.map((fs) => ({ key: fs[0]!.group, value: Buffer.from(encodeBatch(fs)) })) });
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * The sessions an engine run over `batches` in order produces, per group, and each window's label;
 * with `advanceTo`, the partition's time then goes on to it without a window (`Engine.advanceTo`).
 */
export async function referenceRun(dsp: DspModule, batches: Frame[][], o: { silentGraceS?: number; advanceTo?: number } = {}): Promise<{ sessions: Map<string, SessionEvent[]>; labels: Map<string, string>; features: Map<string, string>; seqs: Map<string, number[]>; eventTime: number }> {
  const model = await ActivityModel.load(readFileSync(SHIPPED_MODEL), { layout: featureLayout(parseFeatureConfig({ ...presetSettings('uplink'), sampleRate: 200 })) });
  const engine = new Engine({ dsp, features: presetSettings('uplink'), model, sequencer: { maxPending: 32, maxSpanUs: 5_000_000 }, sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15, summaries: ['acc.mag_mean', 'acc.mag_std'], staleUs: 3_000_000, silentGraceS: o.silentGraceS ?? 60 } });
  const sessions = new Map<string, SessionEvent[]>();
  const labels = new Map<string, string>();
  const features = new Map<string, string>();
  const seqs = new Map<string, number[]>();
  let eventTime = -Infinity;
  for (const fs of [...batches, ...(o.advanceTo === undefined ? [] : [null])]) {
    if (!fs) eventTime = engine.eventTime;
    const out = fs ? await engine.process(fs) : engine.advanceTo(o.advanceTo!);
    for (const w of out.windows) {
      let list = seqs.get(w.sensorId);
      if (!list) seqs.set(w.sensorId, (list = []));
      list.push(w.seq);
      labels.set(`${w.sensorId}@${w.t0}`, w.label!);
      features.set(`${w.sensorId}@${w.t0}`, f32ToBase64(w.features));
    }
    for (const e of out.sessions) {
      let list = sessions.get(e.session.group);
      if (!list) sessions.set(e.session.group, (list = []));
      list.push(e);
    }
  }
  if (o.advanceTo === undefined) eventTime = engine.eventTime;
  await model.close();
  return { sessions, labels, features, seqs, eventTime };
}

