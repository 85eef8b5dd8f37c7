// Property and fuzz tests: whatever bytes arrive, a decoder either returns a frame that re-encodes
// to exactly those bytes or throws a ProtocolError; never another exception, never a hang, and never
// an allocation larger than the input could justify.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ProtocolError,
  decodeBatch,
  decodeFrame,
  decodeJsonFrame,
  encodeBatch,
  encodeFrame,
  encodeJsonFrame,
  frameToJson,
  type Frame,
} from '../../protocol/index.js';
import { ANY_TIME, arbFrame } from './helpers.js';

const RUNS = Number(process.env.EW_FUZZ_RUNS ?? 3000);
const RUNS_SLOW = Math.ceil(RUNS / 3);

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** The fuzz oracle for single frames. */
function checkFrameBytes(bytes: Uint8Array): void {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes, ANY_TIME);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    expect(err.code).toMatch(/^EW_PROTO_/);
    return;
  }
  expect(frame.data.byteLength).toBeLessThanOrEqual(bytes.length);
  expect(hex(encodeFrame(frame))).toBe(hex(bytes));
}

function checkBatchBytes(bytes: Uint8Array): void {
  let frames: Frame[];
  try {
    frames = decodeBatch(bytes, ANY_TIME);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return;
  }
  expect(frames.reduce((n, f) => n + f.data.byteLength, 0)).toBeLessThanOrEqual(bytes.length);
  expect(hex(encodeBatch(frames))).toBe(hex(bytes));
}

/** Valid encoded frames with some bytes overwritten, truncated or extended. */
const arbMutated = (arbBytes: fc.Arbitrary<Uint8Array>) =>
  fc
    .tuple(
      arbBytes,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.constantFrom('overwrite', 'truncate', 'extend'),
      fc.nat(),
    )
    .map(([bytes, edits, how, n]) => {
      if (how === 'truncate') return bytes.slice(0, n % bytes.length);
      if (how === 'extend') return Uint8Array.from([...bytes, ...edits.map(([, v]) => v)]);
      const copy = bytes.slice();
      for (const [at, v] of edits) copy[at % copy.length] = v;
      return copy;
    });

describe('protocol fuzz', () => {
  it('round-trips any valid frame exactly', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const bytes = encodeFrame(frame);
        const back = decodeFrame(bytes, ANY_TIME);
        expect(hex(encodeFrame(back))).toBe(hex(bytes));
        expect({ ...back, data: Array.from(back.data) }).toEqual({ ...frame, sampleRate: Math.fround(frame.sampleRate), data: Array.from(frame.data) });
      }),
      { numRuns: RUNS },
    );
  });

  it('random bytes decode to a re-encodable frame or fail with a protocol error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), checkFrameBytes), { numRuns: RUNS });
  });

  it('random bytes behind a valid magic, version and kind do the same', () => {
    const arb = fc
      .tuple(fc.constantFrom(1, 2, 3), fc.uint8Array({ minLength: 0, maxLength: 300 }))
      .map(([kind, rest]) => Uint8Array.from([0x45, 0x57, 1, kind, ...rest]));
    fc.assert(fc.property(arb, checkFrameBytes), { numRuns: RUNS });
  });

  it('mutated, truncated and extended frames do the same', () => {
    fc.assert(fc.property(arbMutated(arbFrame.map(encodeFrame)), checkFrameBytes), { numRuns: RUNS });
  });

  it('every truncation of a valid frame is reported as a protocol error', () => {
    fc.assert(
      fc.property(arbFrame, fc.nat(), (frame, cut) => {
        const bytes = encodeFrame(frame);
        const short = bytes.subarray(0, cut % bytes.length);
        expect(() => decodeFrame(short, ANY_TIME)).toThrow(ProtocolError);
      }),
      { numRuns: RUNS },
    );
  });

  it('batches: round trip, and mutated batches decode exactly or fail with a protocol error', () => {
    const arbBatch = fc.array(arbFrame, { minLength: 1, maxLength: 5 }).map(encodeBatch);
    fc.assert(
      fc.property(arbBatch, (bytes) => {
        expect(hex(encodeBatch(decodeBatch(bytes, ANY_TIME)))).toBe(hex(bytes));
      }),
      { numRuns: RUNS_SLOW },
    );
    fc.assert(fc.property(arbMutated(arbBatch), checkBatchBytes), { numRuns: RUNS });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }).map((r) => Uint8Array.from([0x45, 0x57, 1, 3, ...r])), checkBatchBytes), {
      numRuns: RUNS,
    });
  });

  it('a batch header claiming a huge frame count is refused without allocating for it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 }), (count, rest) => {
        const bytes = Uint8Array.from([0x45, 0x57, 1, 3, 0, 0, 12, 0, 0, 0, 0, 0, ...rest]);
        new DataView(bytes.buffer).setUint32(8, count, true);
        expect(() => decodeBatch(bytes, ANY_TIME)).toThrow(ProtocolError);
      }),
      { numRuns: RUNS },
    );
  });

  it('JSON frames: round trip, and mangled JSON fails only with protocol errors', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const back = decodeJsonFrame(encodeJsonFrame(frame), ANY_TIME);
        // JSON has no negative zero (JSON.stringify(-0) is "0"): the one value JSON does not keep.
        const positiveZero = { ...frame, data: frame.data.map((v) => (v === 0 ? 0 : v)) };
        expect(hex(encodeFrame(back))).toBe(hex(encodeFrame(positiveZero)));
      }),
      { numRuns: RUNS_SLOW },
    );
    const mangled = fc.tuple(arbFrame, fc.string({ maxLength: 4 }), fc.nat(), fc.nat({ max: 6 })).map(([f, insert, at, del]) => {
      const text = encodeJsonFrame(f);
      const i = at % text.length;
      return text.slice(0, i) + insert + text.slice(i + del);
    });
    fc.assert(
      fc.property(mangled, (text) => {
        try {
          const frame = decodeJsonFrame(text, ANY_TIME);
          expect(frame.data.length).toBe(frame.count * frame.width);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
    const anyJson = fc.jsonValue().map((v) => JSON.stringify(v));
    const shaped = arbFrame.chain((f) =>
      fc.record(Object.fromEntries(Object.keys(frameToJson(f)).map((k) => [k, fc.oneof(fc.jsonValue(), fc.constant((frameToJson(f) as Record<string, unknown>)[k]))]))),
    );
    fc.assert(
      fc.property(fc.oneof(anyJson, shaped.map((o) => JSON.stringify(o))), (text) => {
        try {
          decodeJsonFrame(text, ANY_TIME);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });
});
