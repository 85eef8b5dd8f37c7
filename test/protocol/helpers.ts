// Shared test material for protocol suites: fixtures and fast-check generators of valid frames.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';
import { FLAG_FEATURES_SENT, FLAG_GAP, FLAG_REPLAY, type Frame } from '../../protocol/index.js';

/** Reads an annotated hex fixture: `#` starts a comment, whitespace separates bytes. */
export function readHexFixture(name: string): Uint8Array {
  const text = readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
  const hex = text
    .split('\n')
    .map((l) => l.replace(/#.*/, ''))
    .join(' ')
    .split(/\s+/)
    .filter(Boolean);
  return Uint8Array.from(hex.map((h) => parseInt(h, 16)));
}

const idChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-'.split('');
export const arbId = fc.array(fc.constantFrom(...idChars), { minLength: 1, maxLength: 20 }).map((a) => a.join(''));
const arbF32 = fc.float({ noNaN: true, noDefaultInfinity: true });

export const arbFrame: fc.Arbitrary<Frame> = fc
  .record({
    kind: fc.constantFrom('raw' as const, 'features' as const),
    flags: fc.constantFrom(0, FLAG_GAP, FLAG_REPLAY, FLAG_GAP | FLAG_REPLAY, FLAG_FEATURES_SENT, FLAG_GAP | FLAG_FEATURES_SENT),
    sensorId: arbId,
    gatewayId: arbId,
    group: arbId,
    seq: fc.maxSafeNat(),
    t0: fc.integer({ min: 0, max: 2_000_000_000_000_000 }),
    sampleRate: fc.float({ min: Math.fround(0.01), max: 100_000, noNaN: true }),
    count: fc.integer({ min: 1, max: 12 }),
    width: fc.integer({ min: 1, max: 8 }),
    window: fc.integer({ min: 1, max: 2048 }),
    hopFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    layoutId: fc.nat(),
    seed: fc.array(arbF32, { minLength: 1, maxLength: 96 }),
  })
  .map((r) => {
    const n = r.count * r.width;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = r.seed[i % r.seed.length]!;
    const raw = r.kind === 'raw';
    return {
      kind: r.kind,
      flags: raw ? r.flags : r.flags & ~FLAG_FEATURES_SENT, // FEATURES_SENT is for raw frames only
      sensorId: r.sensorId,
      gatewayId: r.gatewayId,
      group: r.group,
      seq: r.seq,
      t0: r.t0,
      sampleRate: r.sampleRate,
      count: r.count,
      width: r.width,
      window: raw ? 0 : r.window,
      hop: raw ? 0 : Math.max(1, Math.round(r.hopFraction * r.window)),
      layoutId: r.layoutId,
      data,
    };
  });

/** Decode options that accept any t0 the generators make. */
export const ANY_TIME = { maxFutureMs: Infinity } as const;

/** Runs `fn`, expects it to throw an instance of `type`, and returns the error. */
export function errorOf<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected ${type.name} to be thrown, nothing was`);
}
