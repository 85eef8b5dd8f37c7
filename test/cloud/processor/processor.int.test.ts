// The processor on real Kafka: SIGKILLed five times while it works, every input window still comes
// out exactly once (read_committed) and the sessions equal an uninterrupted run's; a record that is
// no frame goes to the dead-letter topic and processing goes on.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivityModel } from '../../../cloud/model/model.js';
import { SHIPPED_MODEL, type ProcessorConfigInput } from '../../../cloud/processor/config.js';
import { Engine } from '../../../cloud/processor/engine.js';
import type { SessionEvent } from '../../../cloud/processor/sessions.js';
import { featureLayout, loadDsp, parseFeatureConfig, presetSettings, type DspModule } from '../../../dsp/src/index.js';
import { Pipeline } from '../../../edge/pipeline.js';
import { SeqStore } from '../../../edge/seq-store.js';
import { Simulator } from '../../../edge/simulator.js';
import { decodeBatch, encodeBatch, type Frame } from '../../../protocol/index.js';
import { servers, uniqueName } from '../../config.js';

const s = servers();
const need = s.kafka ? describe : describe.skip;
const root = new URL('../../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-processor-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function topicsFor(name: string) {
  return { raw: `${name}.raw`, features: `${name}.features`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` };
}

async function createTopics(kafka: Kafka, topics: ReturnType<typeof topicsFor>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: Object.entries(topics).map(([k, topic]) => ({ topic, numPartitions: 4, ...(k === 'processorState' ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}) })),
    waitForLeaders: true,
  });
  await admin.disconnect();
}

/** Edge feature frames of simulated sensors, in the order an edge agent sends them, as the bridge would produce them: one batch per group per flush. */
async function edgeFrames(dsp: DspModule, sensors: number, seconds: number): Promise<Frame[][]> {
  const p = new Pipeline({ gatewayId: 'gw-p', topicRoot: 'edgewave', dsp, seq: SeqStore.open(join(dir, `seq-${Math.random()}.json`)), capacity: sensors, features: presetSettings('uplink') });
  const sim = new Simulator({ sensors, sampleRate: 200, seed: 9, groups: 6, dropoutsPerHour: 0, meanDwellS: 12, mix: { idle: 1, walking: 3, running: 2, jumping: 1, fall: 0.1 } });
  for (const x of sim.sensors) p.register({ sensorId: x.sensorId, group: x.group, sampleRate: 200, mode: 'features', decimate: 1 });
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

function configFor(name: string, topics: ReturnType<typeof topicsFor>): ProcessorConfigInput {
  return {
    kafka: { brokers: s.kafka!.brokers, topics, groupId: `${name}-group`, transactionalIdPrefix: `${name}-tx`, transactionTimeoutMs: 10_000, sessionTimeoutMs: 6000 },
    sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15 },
    http: { port: 0 },
    logLevel: 'warn',
  };
}

/** Reads inferences and session events (read_committed). */
class OutputReader {
  readonly windows = new Map<string, number>();
  readonly labels = new Map<string, string>();
  readonly sessions = new Map<string, SessionEvent[]>();
  readonly dead: { reason: string; value: Buffer }[] = [];
  private consumer: Consumer | undefined;
  constructor(private readonly kafka: Kafka, private readonly topics: ReturnType<typeof topicsFor>) {}
  async start(): Promise<this> {
    this.consumer = this.kafka.consumer({ groupId: uniqueName('out-reader'), maxWaitTimeInMs: 100, readUncommitted: false });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topics.inferences, this.topics.sessions, this.topics.deadletter], fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === this.topics.deadletter) {
          this.dead.push({ reason: String(message.headers?.['ew-reason']), value: message.value! });
          return;
        }
        const v = JSON.parse(message.value!.toString());
        if (topic === this.topics.sessions) {
          const e = v as SessionEvent;
          let list = this.sessions.get(e.session.group);
          if (!list) this.sessions.set(e.session.group, (list = []));
          list.push(e);
        } else {
          const k = `${v.sensorId}@${v.t0}`;
          this.windows.set(k, (this.windows.get(k) ?? 0) + 1);
          this.labels.set(k, v.label);
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
  stop(): Promise<void> {
    return this.consumer!.disconnect();
  }
}

function spawnProcessor(file: string): { proc: ChildProcess; up: Promise<void> } {
  const proc = spawn(process.execPath, [join(root, 'bin/edgewave.js'), 'processor', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const up = new Promise<void>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/ready and metrics on/.test(err)) resolve();
    });
    proc.once('exit', (code, signal) => reject(new Error(`processor exited ${code ?? signal}: ${err}`)));
  });
  up.catch(() => {});
  return { proc, up };
}

need('processor on real Kafka', () => {
  let dsp: DspModule;
  let kafka: Kafka;
  let producer: Producer;
  beforeAll(async () => {
    dsp = await loadDsp();
    kafka = new Kafka({ clientId: 'edgewave-test-processor', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
  });

  it('SIGKILLed 5 times while it works: every window exactly once (read_committed), sessions equal to an uninterrupted run', async () => {
    const name = uniqueName('proc');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 30, 120);
    const expected = new Set(batches.flat().flatMap((f) => Array.from({ length: f.count }, (_, i) => `${f.sensorId}@${f.t0 + Math.round((i * f.hop * 1e6) / f.sampleRate)}`)));
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics)));
    const reader = await new OutputReader(kafka, topics).start();
    let current = spawnProcessor(file);
    try {
      await current.up;
      // The input arrives over about 12 s while the processor is killed and started again.
      const feeding = (async () => {
        const per = Math.ceil(batches.length / 40);
        for (let i = 0; i < batches.length; i += per) {
          await producer.send({ topic: topics.features, messages: batches.slice(i, i + per).map((fs) => ({ key: fs[0]!.group, value: Buffer.from(encodeBatch(fs)) })) });
          await new Promise((r) => setTimeout(r, 300));
        }
      })();
      let seed = 7;
      const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 1000 + rand() * 2000));
        const exited = new Promise((r) => current.proc.once('exit', r));
        current.proc.kill('SIGKILL');
        await exited;
        current = spawnProcessor(file);
        await current.up;
      }
      await feeding;
      await reader.until(() => [...expected].every((k) => reader.windows.has(k)), 90_000, 'every window');
      // Let anything that would be a duplicate arrive.
      await new Promise((r) => setTimeout(r, 2000));
      const dups = [...reader.windows].filter(([, n]) => n > 1);
      expect(dups, 'windows seen more than once').toEqual([]);
      expect(reader.windows.size).toBe(expected.size);

      // The uninterrupted run: the same frames, in the same order per group, through one engine.
      const model = await ActivityModel.load(readFileSync(SHIPPED_MODEL), { layout: featureLayout(parseFeatureConfig({ ...presetSettings('uplink'), sampleRate: 200 })) });
      const engine = new Engine({ dsp, features: presetSettings('uplink'), model, sequencer: { maxPending: 32, maxSpanUs: 5_000_000 }, sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15, summaries: ['acc.mag_mean', 'acc.mag_std'], staleUs: 3_000_000 } });
      const reference = new Map<string, SessionEvent[]>();
      const labels = new Map<string, string>();
      for (const fs of batches) {
        const out = await engine.process(fs);
        for (const w of out.windows) labels.set(`${w.sensorId}@${w.t0}`, w.label!);
        for (const e of out.sessions) {
          let list = reference.get(e.session.group);
          if (!list) reference.set(e.session.group, (list = []));
          list.push(e);
        }
      }
      await model.close();
      expect(reader.labels).toEqual(labels);
      expect([...reference.values()].flat().filter((e) => e.type === 'started').length).toBeGreaterThan(0);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference));
    } finally {
      current.proc.kill('SIGTERM');
      await new Promise((r) => (current.proc.exitCode !== null || current.proc.signalCode !== null ? r(null) : current.proc.once('exit', r)));
      await reader.stop();
    }
  }, 240_000);

  it('a record that is no frame goes to the dead-letter topic with its reason; the frames around it are processed', async () => {
    const name = uniqueName('proc');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = (await edgeFrames(dsp, 4, 20)).filter((fs) => fs[0]!.group === 'group-0');
    const half = Math.floor(batches.length / 2);
    const poison = Buffer.from('EW definitely not a frame');
    await producer.send({
      topic: topics.features,
      messages: [...batches.slice(0, half).map((fs) => ({ key: 'group-0', value: Buffer.from(encodeBatch(fs)) })), { key: 'group-0', value: poison }, ...batches.slice(half).map((fs) => ({ key: 'group-0', value: Buffer.from(encodeBatch(fs)) }))],
    });
    const windows = batches.flat().reduce((n, f) => n + f.count, 0);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics)));
    const reader = await new OutputReader(kafka, topics).start();
    const p = spawnProcessor(file);
    try {
      await p.up;
      await reader.until(() => reader.windows.size >= windows && reader.dead.length >= 1, 60_000, 'the windows and the dead letter');
      expect(reader.dead).toHaveLength(1);
      expect(reader.dead[0]!.reason).toMatch(/^EW_PROTO_/);
      expect(reader.dead[0]!.value.equals(poison)).toBe(true);
      expect(reader.windows.size).toBe(windows);
    } finally {
      p.proc.kill('SIGTERM');
      await new Promise((r) => (p.proc.exitCode !== null ? r(null) : p.proc.once('exit', r)));
      await reader.stop();
    }
  }, 120_000);
});
