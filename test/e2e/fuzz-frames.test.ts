// The fuzz generator of the end-to-end runs: each kind of bad frame is refused by the bridge's own
// routing with the error that kind is about, and a batch of them gives one dead letter per entry.

import { describe, expect, it } from 'vitest';
import { route } from '../../cloud/bridge/route.js';
import { batchOfEncoded, decodeFrame, mqttTopics } from '../../protocol/index.js';
import { FUZZ_KINDS, FuzzFrames, type FuzzKind } from './fuzz-frames.js';

const options = { topics: mqttTopics('edgewave'), json: true, maxFutureMs: 600_000, maxRecordBytes: 1 << 20 };
const EXPECTED: Record<FuzzKind, RegExp> = {
  random: /^EW_PROTO_(MAGIC|TRUNCATED)$/,
  truncated: /^EW_PROTO_(TRUNCATED|LENGTH)$/,
  extended: /^EW_PROTO_LENGTH$/,
  version: /^EW_PROTO_VERSION$/,
  kind: /^EW_PROTO_KIND$/,
  flags: /^EW_PROTO_FLAGS$/,
  reserved: /^EW_PROTO_RESERVED$/,
  nonfinite: /^EW_PROTO_NONFINITE$/,
  future: /^EW_PROTO_FUTURE$/,
  gateway: /^EW_BRIDGE_GATEWAY_MISMATCH$/,
  id: /^EW_PROTO_ID$/,
  rate: /^EW_PROTO_RANGE$/,
};

describe('fuzz frames', () => {
  it('every kind is refused by the bridge with its own error, 500 of each, in a batch and alone', () => {
    const fuzz = new FuzzFrames('gwF', 1);
    for (const kind of FUZZ_KINDS) {
      for (let i = 0; i < 500; i++) {
        const alone = fuzz.make(kind, false);
        const one = route('edgewave/gwF/fz-1/raw', alone, options);
        expect(one.records, `${kind} #${i} alone was taken`).toEqual([]);
        expect(one.dead.length).toBe(1);
        const bytes = fuzz.make(kind);
        const r = route('edgewave/gwF/batch', batchOfEncoded([bytes]), options);
        expect(r.records, `${kind} #${i} was taken`).toEqual([]);
        expect(r.dead.length).toBe(1);
        expect(r.dead[0]!.code, `${kind} #${i}: ${r.dead[0]!.message}`).toMatch(EXPECTED[kind]);
      }
    }
  });

  it('a batch of n gives n dead letters and nothing else; the same seed gives the same bytes', () => {
    const now = Date.now();
    const a = new FuzzFrames('gwF', 7, now);
    const b = new FuzzFrames('gwF', 7, now);
    for (let i = 0; i < 50; i++) {
      const batch = a.batch(100);
      expect(Buffer.from(b.batch(100)).equals(Buffer.from(batch))).toBe(true);
      const r = route('edgewave/gwF/batch', batch, options);
      expect(r.records).toEqual([]);
      expect(r.dead.length).toBe(100);
    }
    expect([...a.counts.values()].reduce((x, y) => x + y, 0)).toBe(5000);
    // The frames they were made from are valid: what makes them bad is the change.
    expect(() => decodeFrame(new FuzzFrames('gwF', 3).make('gateway'), { maxFutureMs: Infinity })).not.toThrow();
  });
});
