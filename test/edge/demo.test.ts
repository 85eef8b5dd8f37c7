import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startDemo } from '../../edge/demo.js';
import { GRAVITY, ImuSignal } from '../../edge/imu-signal.js';

describe('demo job (npm start)', () => {
  it('delivers every frame of every simulated sensor exactly once through the embedded broker', async () => {
    const demo = await startDemo({ port: 0, sensors: 9, gateways: 3, rate: 400, frameMs: 20 });
    await new Promise((r) => setTimeout(r, 1200));
    const s = await demo.stop();
    expect(s.framesSent).toBeGreaterThan(9 * 30);
    expect(s.framesReceived).toBe(s.framesSent);
    expect([s.gaps, s.duplicates]).toEqual([0, 0]);
    expect(s.samplesReceived).toBe(s.framesReceived * 8);
    expect(s.activities.idle + s.activities.walking + s.activities.running).toBe(9);
    expect(s.binaryToJson).toBeGreaterThan(0);
    expect(s.binaryToJson).toBeLessThan(0.5);
  });

  it('counts malformed messages published to its broker by code and keeps going', async () => {
    const demo = await startDemo({ port: 0, sensors: 2, gateways: 1, frameMs: 20 });
    const intruder = await mqtt.connectAsync(demo.url, { protocolVersion: 4 });
    await intruder.publishAsync('edgewave/gw-9/batch', Buffer.from('not a frame'), { qos: 1 });
    await intruder.publishAsync('edgewave/gw-9/batch', Buffer.from([0x45, 0x57, 2, 3, 0, 0, 12, 0]), { qos: 1 });
    await intruder.endAsync();
    await new Promise((r) => setTimeout(r, 300));
    const s = await demo.stop();
    expect(s.rejected).toEqual({ EW_PROTO_MAGIC: 1, EW_PROTO_VERSION: 1 });
    expect(s.framesReceived).toBe(s.framesSent);
    expect(s.framesReceived).toBeGreaterThan(0);
  });

  it('rejects a bad option naming it', async () => {
    await expect(startDemo({ sensorz: 3 })).rejects.toMatchObject({ code: 'EW_CONFIG_INVALID', message: expect.stringContaining('"sensorz"') });
    await expect(startDemo({ rate: 0 })).rejects.toMatchObject({ code: 'EW_CONFIG_INVALID', message: expect.stringContaining('rate') });
  });
});

describe('simulated IMU signal', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = new ImuSignal(100, 'walking', 7).next(64);
    const b = new ImuSignal(100, 'walking', 7).next(64);
    const c = new ImuSignal(100, 'walking', 8).next(64);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('carries gravity on the vertical axis and more motion when running than idle', () => {
    const std = (x: Float32Array) => {
      const m = x.reduce((p, v) => p + v, 0) / x.length;
      return Math.sqrt(x.reduce((p, v) => p + (v - m) ** 2, 0) / x.length);
    };
    const n = 400;
    const idle = new ImuSignal(100, 'idle', 1).next(n);
    const run = new ImuSignal(100, 'running', 1).next(n);
    const idleAz = idle.subarray(2 * n, 3 * n);
    expect(idleAz.reduce((p, v) => p + v, 0) / n).toBeCloseTo(GRAVITY, 0);
    expect(std(run.subarray(2 * n, 3 * n))).toBeGreaterThan(10 * std(idleAz));
  });
});
