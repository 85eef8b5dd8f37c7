// IMU CSV, the kernel lab's input: read exactly (float32 values), written so it reads back bit for
// bit, and refused with EW_MODEL_INPUT naming the line and column of what is wrong.

import { describe, expect, it } from 'vitest';
import { formatImuCsv, parseImuCsv } from '../../../cloud/model/imu-csv.js';
import { ModelError } from '../../../cloud/model/model.js';
import { Simulator } from '../../../edge/simulator.js';

const fails = (text: string, o: { sampleRate?: number } = {}) => {
  try {
    parseImuCsv(text, o);
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return { code: (err as ModelError).code, message: (err as Error).message, details: (err as ModelError).details };
  }
  throw new Error('parsed');
};

describe('IMU CSV', () => {
  it('reads columns in any order, planar, with the rate from the median timestamp step', () => {
    const s = parseImuCsv('gz,gy,gx,timestamp,az,ay,ax,extra\n6,5,4,0.00,3,2,1,x\n12,11,10,0.01,9,8,7,y\n\n18,17,16,0.02,15,14,13,z\n');
    expect(s.sampleRate).toBe(100);
    expect(s.count).toBe(3);
    expect(Array.from(s.samples)).toEqual([1, 7, 13, 2, 8, 14, 3, 9, 15, 4, 10, 16, 5, 11, 17, 6, 12, 18]);
  });

  it('takes the rate when given, without timestamps', () => {
    expect(parseImuCsv('ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n', { sampleRate: 50 }).sampleRate).toBe(50);
  });

  it('round-trips simulated samples bit for bit', () => {
    const sim = new Simulator({ sensors: 1, sampleRate: 200, seed: 3, dropoutsPerHour: 0 });
    const samples = sim.next(400).samples[0]!.slice();
    const back = parseImuCsv(formatImuCsv({ sampleRate: 200, count: 400, samples }));
    expect(back.sampleRate).toBe(200);
    expect(Buffer.from(back.samples.buffer).equals(Buffer.from(samples.buffer))).toBe(true);
  });

  it('names what is wrong: the line, the column, the missing header names', () => {
    expect(fails('')).toMatchObject({ code: 'EW_MODEL_INPUT', details: { line: 1 } });
    expect(fails('timestamp,ax,ay,az,gx\n0,1,2,3,4\n')).toMatchObject({ code: 'EW_MODEL_INPUT', details: { line: 1, missing: ['gy', 'gz'] } });
    const bad = fails('timestamp,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,6\n0.01,1,two,3,4,5,6\n');
    expect(bad).toMatchObject({ code: 'EW_MODEL_INPUT', details: { line: 3, column: 'ay', value: 'two' } });
    expect(bad.message).toMatch(/^line 3, column ay: "two" is not a finite number/);
    expect(fails('timestamp,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,NaN\n')).toMatchObject({ details: { line: 2, column: 'gz' } });
    expect(fails('timestamp,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5\n')).toMatchObject({ details: { line: 2, column: 'gz' } });
    expect(fails('timestamp,ax,ay,az,gx,gy,gz\n')).toMatchObject({ code: 'EW_MODEL_INPUT', details: { line: 2 } });
    expect(fails('ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n')).toMatchObject({ details: { column: 'timestamp' } });
    expect(fails('timestamp,ax,ay,az,gx,gy,gz\n1,1,2,3,4,5,6\n0,1,2,3,4,5,6\n')).toMatchObject({ details: { column: 'timestamp' } });
    expect(fails('ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n', { sampleRate: 0.5 })).toMatchObject({ details: { sampleRate: 0.5 } });
  });
});
