// The inference record's JSON, written by hand for speed, is the JSON of the window (with its
// classes when classified): every field, every number, non-finite values as null.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WindowResult } from '../../../cloud/processor/engine.js';
import { inferenceJson } from '../../../cloud/processor/processor.js';

const CLASSES = ['idle', 'walking', 'running', 'jumping', 'fall'];
const id = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/);
const f32 = fc.float({ noDefaultInfinity: false, noNaN: false }).map((v) => Math.fround(v));

const windowArb = fc.record({
  sensorId: id,
  gatewayId: id,
  group: id,
  seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  t0: fc.nat({ max: 2 ** 52 }),
  t1: fc.nat({ max: 2 ** 52 }),
  sampleRate: f32.filter((v) => Number.isFinite(v) && v > 0),
  hop: fc.integer({ min: 1, max: 65535 }),
  layoutId: fc.nat({ max: 2 ** 32 - 1 }),
  source: fc.constantFrom('edge' as const, 'processor' as const),
  features: fc.array(f32, { maxLength: 20 }),
  classified: fc.option(fc.record({ label: fc.constantFrom(...CLASSES), scores: fc.array(f32, { minLength: 5, maxLength: 5 }) }), { nil: undefined }),
});

describe('inference records', () => {
  it('parse to what JSON.stringify of the window gives', () => {
    fc.assert(
      fc.property(windowArb, ({ classified, ...w }) => {
        const x: WindowResult = { ...w, ...(classified ?? {}) };
        const expected = JSON.parse(JSON.stringify({ ...x, ...(x.label ? { classes: CLASSES } : {}) }));
        expect(JSON.parse(inferenceJson(x, JSON.stringify(CLASSES)))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
