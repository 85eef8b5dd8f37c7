import { describe, expect, it } from 'vitest';
import {
  FLAG_FEATURES_SENT,
  FLAG_GAP,
  FLAG_REPLAY,
  ProtocolError,
  decodeBatch,
  decodeFrame,
  decodeFrameHeader,
  encodeBatch,
  encodeFrame,
  encodeFrameInto,
  frameByteLength,
  type Frame,
} from '../../protocol/index.js';
import { ANY_TIME, errorOf, readHexFixture } from './helpers.js';

const rawFixtureFrame: Frame = {
  kind: 'raw',
  flags: FLAG_GAP,
  sensorId: 'imu-1',
  gatewayId: 'gw-1',
  group: 'line-a',
  seq: 42,
  t0: 1_764_000_000_000_000,
  sampleRate: 200,
  count: 2,
  width: 3,
  window: 0,
  hop: 0,
  layoutId: 0,
  data: Float32Array.from([1, -1, 0.5, 9.80665, 0.25, -0.125]),
};

const featureFixtureFrame: Frame = {
  kind: 'features',
  flags: FLAG_REPLAY,
  sensorId: 's7',
  gatewayId: 'g',
  group: 'grp',
  seq: Number.MAX_SAFE_INTEGER,
  t0: 0,
  sampleRate: 100,
  count: 2,
  width: 2,
  window: 256,
  hop: 128,
  layoutId: 7,
  data: Float32Array.from([1, 0.5, -1, 0.25]),
};

function codeOf(fn: () => unknown): string {
  return errorOf(ProtocolError, fn).code;
}

function mutate(bytes: Uint8Array, edit: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  edit(copy, new DataView(copy.buffer));
  return copy;
}

describe('binary frames: golden fixtures', () => {
  it.each([
    ['raw-v1.hex', rawFixtureFrame],
    ['features-v1.hex', featureFixtureFrame],
  ])('%s encodes byte for byte and decodes to the same frame', (file, frame) => {
    const golden = readHexFixture(file);
    expect(Buffer.from(encodeFrame(frame)).toString('hex')).toBe(Buffer.from(golden).toString('hex'));
    expect(frameByteLength(frame)).toBe(golden.length);
    const decoded = decodeFrame(golden, ANY_TIME);
    expect({ ...decoded, data: Array.from(decoded.data) }).toEqual({ ...frame, data: Array.from(frame.data) });
  });

  it('batch-v1.hex holds both fixtures, encodes byte for byte and decodes to both frames', () => {
    const golden = readHexFixture('batch-v1.hex');
    expect(Buffer.from(encodeBatch([rawFixtureFrame, featureFixtureFrame])).toString('hex')).toBe(Buffer.from(golden).toString('hex'));
    const [raw, features] = decodeBatch(golden, ANY_TIME);
    expect([raw?.sensorId, features?.sensorId, Array.from(features!.data)]).toEqual(['imu-1', 's7', [1, 0.5, -1, 0.25]]);
  });

  it('gives a zero-copy payload view when the payload is 4-byte aligned, and a copy when not', () => {
    const golden = readHexFixture('raw-v1.hex');
    const aligned = decodeFrame(golden, ANY_TIME);
    expect(aligned.data.buffer).toBe(golden.buffer);
    // Same bytes at an odd offset inside a larger buffer: the payload cannot be viewed, so it is copied.
    const host = new Uint8Array(golden.length + 1);
    host.set(golden, 1);
    const shifted = decodeFrame(host.subarray(1), ANY_TIME);
    expect(shifted.data.buffer).not.toBe(host.buffer);
    expect(Array.from(shifted.data)).toEqual(Array.from(aligned.data));
    expect(decodeFrame(golden, { ...ANY_TIME, copy: true }).data.buffer).not.toBe(golden.buffer);
  });

  it('encodes into a caller buffer at an offset', () => {
    const target = new Uint8Array(200).fill(0xaa);
    const n = encodeFrameInto(rawFixtureFrame, target, 8);
    expect(n).toBe(readHexFixture('raw-v1.hex').length);
    expect(target[7]).toBe(0xaa);
    expect(target[8 + n]).toBe(0xaa);
    expect(Array.from(decodeFrame(target.subarray(8, 8 + n), ANY_TIME).data)).toEqual(Array.from(rawFixtureFrame.data));
  });
});

describe('binary frames: rejected input names the code, field and byte', () => {
  const golden = readHexFixture('raw-v1.hex');

  it.each([
    ['empty input', new Uint8Array(0), 'EW_PROTO_TRUNCATED'],
    ['fixed header cut short', golden.subarray(0, 30), 'EW_PROTO_TRUNCATED'],
    ['payload cut short', golden.subarray(0, golden.length - 4), 'EW_PROTO_TRUNCATED'],
    ['trailing bytes', Uint8Array.from([...golden, 0, 0, 0, 0]), 'EW_PROTO_LENGTH'],
    ['bad magic', mutate(golden, (b) => (b[0] = 0x46)), 'EW_PROTO_MAGIC'],
    ['version 2', mutate(golden, (b) => (b[2] = 2)), 'EW_PROTO_VERSION'],
    ['kind 9', mutate(golden, (b) => (b[3] = 9)), 'EW_PROTO_KIND'],
    ['a batch where a frame belongs', mutate(golden, (b) => (b[3] = 3)), 'EW_PROTO_KIND'],
    ['undefined flag bit', mutate(golden, (_, v) => v.setUint16(4, 0x8000, true)), 'EW_PROTO_FLAGS'],
    ['headerLength off by 4', mutate(golden, (_, v) => v.setUint16(6, 68, true)), 'EW_PROTO_LENGTH'],
    ['seq above 2^53-1', mutate(golden, (_, v) => v.setUint32(12, 0x200000, true)), 'EW_PROTO_RANGE'],
    ['negative t0', mutate(golden, (_, v) => v.setInt32(20, -1, true)), 'EW_PROTO_RANGE'],
    ['zero sample rate', mutate(golden, (_, v) => v.setFloat32(24, 0, true)), 'EW_PROTO_RANGE'],
    ['NaN sample rate', mutate(golden, (_, v) => v.setFloat32(24, NaN, true)), 'EW_PROTO_RANGE'],
    ['zero count', mutate(golden, (_, v) => v.setUint32(28, 0, true)), 'EW_PROTO_RANGE'],
    ['count larger than the input', mutate(golden, (_, v) => v.setUint32(28, 0xffffffff, true)), 'EW_PROTO_TRUNCATED'],
    ['window set in a raw frame', mutate(golden, (_, v) => v.setUint16(34, 8, true)), 'EW_PROTO_RANGE'],
    ['reserved bytes set', mutate(golden, (b) => (b[38] = 1)), 'EW_PROTO_RESERVED'],
    ['reserved byte 47 set', mutate(golden, (b) => (b[47] = 1)), 'EW_PROTO_RESERVED'],
    ['padding set', mutate(golden, (b) => (b[63] = 1)), 'EW_PROTO_RESERVED'],
    ['slash in the sensor id', mutate(golden, (b) => (b[50] = 0x2f)), 'EW_PROTO_ID'],
    ['zero-length group', mutate(golden, (b) => (b[46] = 0)), 'EW_PROTO_ID'],
    ['NaN sample', mutate(golden, (_, v) => v.setFloat32(64 + 8, NaN, true)), 'EW_PROTO_NONFINITE'],
    ['infinite sample', mutate(golden, (_, v) => v.setFloat32(64 + 20, -Infinity, true)), 'EW_PROTO_NONFINITE'],
  ])('%s', (_, bytes, code) => {
    expect(codeOf(() => decodeFrame(bytes, ANY_TIME))).toBe(code);
  });

  it('FEATURES_SENT (bit 2) is for raw frames: a raw frame carries it, a feature frame with it is refused at the flags', () => {
    const flagged = mutate(golden, (_, v) => v.setUint16(4, v.getUint16(4, true) | FLAG_FEATURES_SENT, true));
    expect(decodeFrame(flagged, ANY_TIME).flags & FLAG_FEATURES_SENT).toBe(FLAG_FEATURES_SENT);
    expect(Buffer.from(encodeFrame(decodeFrame(flagged, ANY_TIME))).equals(Buffer.from(flagged))).toBe(true);
    const features = readHexFixture('features-v1.hex');
    const err = errorOf(ProtocolError, () => decodeFrame(mutate(features, (_, v) => v.setUint16(4, FLAG_FEATURES_SENT, true)), ANY_TIME));
    expect([err.code, err.field, err.offset]).toEqual(['EW_PROTO_FLAGS', 'flags', 4]);
    expect(err.message).toMatch(/raw frames only/);
    expect(codeOf(() => encodeFrame({ ...featureFixtureFrame, flags: FLAG_FEATURES_SENT }))).toBe('EW_PROTO_FLAGS');
  });

  it('points at the offending byte', () => {
    const bad = mutate(golden, (_, v) => v.setFloat32(64 + 12, NaN, true));
    const err = errorOf(ProtocolError, () => decodeFrame(bad, ANY_TIME));
    expect(err.offset).toBe(64 + 12);
    expect(err.details.index).toBe(3);
    expect(err.retriable).toBe(false);
    const idErr = errorOf(ProtocolError, () => decodeFrame(mutate(golden, (b) => (b[50] = 0x2f)), ANY_TIME));
    expect([idErr.field, idErr.offset]).toEqual(['sensorId', 50]);
  });

  it('rejects frames far in the future relative to the receiver clock, allowing the configured skew', () => {
    const t0 = rawFixtureFrame.t0;
    expect(codeOf(() => decodeFrame(golden, { nowUs: t0 - 11 * 60e6 }))).toBe('EW_PROTO_FUTURE');
    expect(decodeFrame(golden, { nowUs: t0 - 9 * 60e6 }).seq).toBe(42);
    expect(codeOf(() => decodeFrame(golden, { nowUs: t0 - 2000, maxFutureMs: 1 }))).toBe('EW_PROTO_FUTURE');
  });

  it('rejects unknown sensors when registration is required', () => {
    const known = new Set(['imu-2']);
    expect(codeOf(() => decodeFrame(golden, { ...ANY_TIME, isKnownSensor: (id) => known.has(id) }))).toBe('EW_PROTO_UNKNOWN_SENSOR');
    known.add('imu-1');
    expect(decodeFrame(golden, { ...ANY_TIME, isKnownSensor: (id) => known.has(id) }).sensorId).toBe('imu-1');
  });

  it('rejects frames over the size limit before reading them', () => {
    expect(codeOf(() => decodeFrame(golden, { ...ANY_TIME, maxFrameBytes: 64 }))).toBe('EW_PROTO_LENGTH');
  });

  it('reads the header without checking payload values (what a bridge needs)', () => {
    const bad = mutate(golden, (_, v) => v.setFloat32(64, NaN, true));
    const header = decodeFrameHeader(bad, ANY_TIME);
    expect([header.sensorId, header.seq, header.headerLength, header.byteLength]).toEqual(['imu-1', 42, 64, golden.length]);
  });
});

describe('binary frames: the encoder refuses what the decoder would refuse', () => {
  it.each([
    ['bad id', { sensorId: 'a/b' }, 'EW_PROTO_ID'],
    ['id too long', { group: 'x'.repeat(129) }, 'EW_PROTO_ID'],
    ['fractional seq', { seq: 1.5 }, 'EW_PROTO_RANGE'],
    ['unsafe seq', { seq: 2 ** 53 }, 'EW_PROTO_RANGE'],
    ['data length mismatch', { count: 3 }, 'EW_PROTO_LENGTH'],
    ['NaN value', { data: Float32Array.from([1, 2, NaN, 4, 5, 6]) }, 'EW_PROTO_NONFINITE'],
    ['hop in a raw frame', { hop: 2 }, 'EW_PROTO_RANGE'],
    ['unknown flag', { flags: 8 }, 'EW_PROTO_FLAGS'],
    ['sample rate overflowing float32', { sampleRate: 1e39 }, 'EW_PROTO_RANGE'],
  ] as const)('%s', (_, change, code) => {
    expect(codeOf(() => encodeFrame({ ...rawFixtureFrame, ...change } as Frame))).toBe(code);
  });

  it('requires 1 <= hop <= window in a feature frame', () => {
    expect(codeOf(() => encodeFrame({ ...featureFixtureFrame, hop: 257 }))).toBe('EW_PROTO_RANGE');
    expect(codeOf(() => encodeFrame({ ...featureFixtureFrame, hop: 0 }))).toBe('EW_PROTO_RANGE');
  });
});

describe('binary frames: the first problem named is what the bytes are', () => {
  it.each([
    ['short text', new TextEncoder().encode('hi'), 'EW_PROTO_MAGIC'],
    ['JSON', new TextEncoder().encode('{"v":1}'), 'EW_PROTO_MAGIC'],
    ['magic and a future version, nothing else', Uint8Array.from([0x45, 0x57, 9]), 'EW_PROTO_VERSION'],
    ['just the magic', Uint8Array.from([0x45, 0x57]), 'EW_PROTO_TRUNCATED'],
  ])('%s', (_, bytes, code) => {
    expect(codeOf(() => decodeFrame(bytes, ANY_TIME))).toBe(code);
  });
});
