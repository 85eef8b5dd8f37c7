// The inference record's JSON, written by hand for speed, reads back as the window: every field,
// and features and scores to the bit (as float32, which they are), with the classes and the top
// score when classified.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WindowResult } from '../../../cloud/processor/engine.js';
import { inferenceJson, parseInference } from '../../../cloud/processor/records.js';

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
  it('read back as the window they were written from', () => {
    fc.assert(
      fc.property(windowArb, ({ classified, ...w }) => {
        const x: WindowResult = { ...w, features: Float32Array.from(w.features), ...(classified ? { label: classified.label, scores: Float32Array.from(classified.scores) } : {}) };
        const back = parseInference(inferenceJson(x, JSON.stringify(CLASSES)));
        const { features, scores, ...rest } = back;
        // Every float32 bit pattern comes back, NaN and -0 included.
        expect(new Uint32Array(features.buffer)).toEqual(new Uint32Array(Float32Array.from(x.features).buffer));
        const { features: _f, scores: _s, label, ...plain } = x;
        if (label === undefined) {
          expect(rest).toEqual(plain);
          expect(scores).toBeUndefined();
        } else {
          const finite = Array.from(x.scores!).filter((v) => !Number.isNaN(v));
          const best = finite.length ? Math.max(...finite) : -Infinity;
          expect(rest).toEqual({ ...plain, label, classes: CLASSES, confidence: Number.isFinite(best) ? best + 0 : null });
          expect(new Uint32Array(scores!.buffer)).toEqual(new Uint32Array(Float32Array.from(x.scores!).buffer));
        }
      }),
      { numRuns: 500 },
    );
  });
});
