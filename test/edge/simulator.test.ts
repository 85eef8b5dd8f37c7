// The simulator: deterministic for a seed, every activity with its signature, transitions that
// follow the rules, gravity that follows orientation, dropouts at the configured rate.

import { describe, expect, it } from 'vitest';
import { GRAVITY } from '../../edge/imu-signal.js';
import { ACTIVITIES, Simulator, type SimActivity } from '../../edge/simulator.js';

/** Runs a simulator for `seconds` and returns per sensor the planar signal and labels. */
function record(sim: Simulator, seconds: number, step = 50) {
  const rate = sim.options.sampleRate;
  const total = Math.round((seconds * rate) / step) * step;
  const out = sim.sensors.map(() => ({ signal: new Float32Array(6 * total), labels: new Uint8Array(total), present: 0 }));
  for (let at = 0; at < total; at += step) {
    const s = sim.next(step);
    s.samples.forEach((x, i) => {
      for (let c = 0; c < 6; c++) out[i]!.signal.set(x.subarray(c * step, (c + 1) * step), c * total + at);
      out[i]!.labels.set(s.labels[i]!, at);
      if (s.present[i]) out[i]!.present += step;
    });
  }
  return { total, out };
}

const magnitude = (sig: Float32Array, total: number, i: number) => Math.hypot(sig[i]!, sig[total + i]!, sig[2 * total + i]!);

describe('Simulator', () => {
  it('is deterministic for a seed, and sensors differ from each other', () => {
    const a = record(new Simulator({ sensors: 3, sampleRate: 100, seed: 7 }), 20);
    const b = record(new Simulator({ sensors: 3, sampleRate: 100, seed: 7 }), 20);
    const c = record(new Simulator({ sensors: 3, sampleRate: 100, seed: 8 }), 20);
    expect(Buffer.from(a.out[1]!.signal.buffer).equals(Buffer.from(b.out[1]!.signal.buffer))).toBe(true);
    expect(Buffer.from(a.out[1]!.labels).equals(Buffer.from(b.out[1]!.labels))).toBe(true);
    expect(Buffer.from(a.out[1]!.signal.buffer).equals(Buffer.from(c.out[1]!.signal.buffer))).toBe(false);
    expect(Buffer.from(a.out[0]!.signal.buffer).equals(Buffer.from(a.out[1]!.signal.buffer))).toBe(false);
  });

  it('spreads sensors over groups and names them', () => {
    const sim = new Simulator({ sensors: 5, sampleRate: 50, groups: 2, prefix: 'gw1-imu' });
    expect(sim.sensors.map((s) => [s.sensorId, s.group])).toEqual([
      ['gw1-imu-0', 'group-0'], ['gw1-imu-1', 'group-1'], ['gw1-imu-2', 'group-0'], ['gw1-imu-3', 'group-1'], ['gw1-imu-4', 'group-0'],
    ]);
  });

  it('moves through every activity; falls follow walking or running, and end lying down', () => {
    const sim = new Simulator({ sensors: 8, sampleRate: 100, meanDwellS: 4, seed: 3, mix: { fall: 1 }, dropoutsPerHour: 0 });
    const { total, out } = record(sim, 600);
    const seen = new Set<SimActivity>();
    let falls = 0;
    for (const { signal, labels } of out) {
      for (let i = 1; i < total; i++) {
        seen.add(ACTIVITIES[labels[i]!]!);
        if (labels[i] === 4 && labels[i - 1] !== 4) {
          falls++;
          expect(['walking', 'running']).toContain(ACTIVITIES[labels[i - 1]!]);
          // Free fall in the first 0.35 s, an impact of several g about 0.4 s in.
          const window = Array.from({ length: 60 }, (_, k) => magnitude(signal, total, Math.min(total - 1, i + k)));
          if (i + 60 < total) {
            expect(Math.min(...window.slice(25, 36))).toBeLessThan(0.45 * GRAVITY);
            expect(Math.max(...window)).toBeGreaterThan(3 * GRAVITY);
          }
          // Afterwards, once still, gravity lies along x.
          const after = i + 140;
          if (after < total && labels[after] === 0 && labels.subarray(i + 150, i + 160).every((l) => l === 0)) {
            expect(Math.abs(signal[after]! - GRAVITY)).toBeLessThan(1);
            expect(Math.abs(signal[2 * total + after]!)).toBeLessThan(1.5);
          }
        }
      }
    }
    expect([...seen].sort()).toEqual([...ACTIVITIES].sort());
    expect(falls).toBeGreaterThan(5);
  });

  it('gives each activity its signature: still idle, periodic walking, flights while jumping', () => {
    const sim = new Simulator({ sensors: 6, sampleRate: 100, meanDwellS: 30, seed: 11, dropoutsPerHour: 0, transitionS: 0.5 });
    const { total, out } = record(sim, 300);
    const by: Record<string, number[]> = {};
    for (const { signal, labels } of out) {
      for (let i = 200; i < total; i++) {
        // Only samples well inside an activity.
        if (labels[i] !== labels[i - 200]) continue;
        (by[ACTIVITIES[labels[i]!]!] ??= []).push(magnitude(signal, total, i));
      }
    }
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const std = (a: number[]) => {
      const m = mean(a);
      return Math.sqrt(mean(a.map((v) => (v - m) ** 2)));
    };
    expect(mean(by.idle!)).toBeCloseTo(GRAVITY, 0);
    expect(std(by.idle!)).toBeLessThan(0.2);
    expect(std(by.walking!)).toBeGreaterThan(0.5);
    expect(std(by.running!)).toBeGreaterThan(std(by.walking!));
    expect(by.jumping!.filter((m) => m < 0.3 * GRAVITY).length / by.jumping!.length).toBeGreaterThan(0.3);
  });

  it('drops out at about the configured rate, and only then', () => {
    const sim = new Simulator({ sensors: 20, sampleRate: 50, seed: 5, dropoutsPerHour: 360, dropoutMeanS: 1 });
    const { total, out } = record(sim, 200, 25);
    const missing = out.reduce((s, o) => s + (total - o.present), 0) / (20 * total);
    // 360 per hour of 1 s each: about 10% of the time.
    expect(missing).toBeGreaterThan(0.05);
    expect(missing).toBeLessThan(0.16);
    const none = record(new Simulator({ sensors: 5, sampleRate: 50, dropoutsPerHour: 0 }), 100);
    expect(none.out.every((o) => o.present === none.total)).toBe(true);
  });
});
