// The promise of features mode: with the agent's default feature settings (the `uplink` preset), a
// sensor costs the uplink 50-100x fewer bytes than the same sensor in raw mode, counted as the MQTT
// payloads the agent stores and publishes (batch and frame headers included).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDsp, type DspModule } from '../../dsp/src/index.js';
import { featureSettings } from '../../edge/agent.js';
import { parseEdgeConfig } from '../../edge/config.js';
import { Pipeline, type UplinkMode } from '../../edge/pipeline.js';
import { SeqStore } from '../../edge/seq-store.js';
import { Simulator } from '../../edge/simulator.js';
import { decodeBatch } from '../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-uplink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dsp: DspModule;
beforeAll(async () => {
  dsp = await loadDsp();
});

const RATE = 200;
const SENSORS = 40;
const SECONDS = 60;
const STEP = 10; // 50 ms of samples per add and per flush, the agent's default flushMs

function uplinkBytes(mode: UplinkMode, features: Record<string, unknown>): { bytes: number; windows: number; samples: number } {
  const config = parseEdgeConfig({ gatewayId: 'gw-ratio', mqtt: { url: 'mqtt://127.0.0.1:1883' }, sources: [{ type: 'simulator', sensors: SENSORS }], features });
  const seq = SeqStore.open(join(dir, `seq-${mode}-${Math.random()}.json`));
  const p = new Pipeline({ gatewayId: config.gatewayId, topicRoot: config.mqtt.topicRoot, dsp, seq, capacity: SENSORS, features: featureSettings(config.features) });
  const sim = new Simulator({ sensors: SENSORS, sampleRate: RATE, seed: 11 });
  for (const s of sim.sensors) p.register({ sensorId: s.sensorId, group: s.group, sampleRate: RATE, mode, decimate: 1 });
  let bytes = 0;
  let windows = 0;
  let samples = 0;
  for (let t = 0; t < (SECONDS * RATE) / STEP; t++) {
    const step = sim.next(STEP);
    sim.sensors.forEach((s, i) => p.add(s.sensorId, step.samples[i]!, Math.round(((t * STEP) / RATE) * 1e6)));
    const r = p.flush();
    for (const item of r.items) {
      bytes += item.payload.length;
      for (const f of decodeBatch(item.payload)) {
        expect(f.kind).toBe(mode);
        if (f.kind === 'features') windows += f.count;
        else samples += f.count;
      }
    }
  }
  return { bytes, windows, samples };
}

describe('uplink bytes, features against raw', () => {
  it('the default (uplink preset) sends 50-100x fewer bytes than raw, every window and sample accounted for', () => {
    const raw = uplinkBytes('raw', {});
    const features = uplinkBytes('features', {});
    // Every sample went out raw; every complete 256-sample window went out as features.
    expect(raw.samples).toBe(SENSORS * SECONDS * RATE);
    expect(features.windows).toBe(SENSORS * Math.floor((SECONDS * RATE - 256) / 256 + 1));
    const ratio = raw.bytes / features.bytes;
    console.log(`uplink: raw ${raw.bytes} B, features ${features.bytes} B for ${SENSORS} sensors x ${SECONDS} s: ${ratio.toFixed(1)}x fewer`);
    expect(ratio).toBeGreaterThanOrEqual(50);
    expect(ratio).toBeLessThanOrEqual(100);
  });

  it('the full preset (every dsp/ feature, hop 128) costs many times more than the uplink preset', () => {
    const uplink = uplinkBytes('features', {});
    const full = uplinkBytes('features', { preset: 'full' });
    // 162 features at twice the window rate against 16: about 10x more per sensor.
    expect(full.bytes / uplink.bytes).toBeGreaterThan(8);
    expect(full.windows).toBe(SENSORS * Math.floor((SECONDS * RATE - 256) / 128 + 1));
  });
});
