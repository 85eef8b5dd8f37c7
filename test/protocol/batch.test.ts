import { describe, expect, it } from 'vitest';
import { ProtocolError, decodeBatch, decodeBatchHeaders, encodeBatch, encodeFrame, isBatch, splitBatch, type Frame } from '../../protocol/index.js';
import { ANY_TIME, errorOf } from './helpers.js';

function frame(sensorId: string, seq: number, values: number[]): Frame {
  return {
    kind: 'raw', flags: 0, sensorId, gatewayId: 'gw-1', group: 'g', seq, t0: 1_000_000 * seq, sampleRate: 50,
    count: values.length, width: 1, window: 0, hop: 0, layoutId: 0, data: Float32Array.from(values),
  };
}

describe('batch frames', () => {
  const frames = [frame('a', 1, [1, 2, 3]), frame('bb', 7, [4]), frame('a', 2, [5, 6])];

  it('round-trips many sensors\' frames in order, with zero-copy payloads', () => {
    const bytes = encodeBatch(frames);
    expect(isBatch(bytes)).toBe(true);
    expect(isBatch(encodeFrame(frames[0]!))).toBe(false);
    const decoded = decodeBatch(bytes, ANY_TIME);
    expect(decoded.map((f) => [f.sensorId, f.seq, Array.from(f.data)])).toEqual([
      ['a', 1, [1, 2, 3]],
      ['bb', 7, [4]],
      ['a', 2, [5, 6]],
    ]);
    expect(decoded.every((f) => f.data.buffer === bytes.buffer)).toBe(true);
  });

  it('splits into the exact bytes of each frame without decoding payloads', () => {
    const bytes = encodeBatch(frames);
    const entries = splitBatch(bytes);
    expect(entries.map((e) => Buffer.from(e.bytes).toString('hex'))).toEqual(frames.map((f) => Buffer.from(encodeFrame(f)).toString('hex')));
    expect(decodeBatchHeaders(bytes, ANY_TIME).map((h) => h.sensorId)).toEqual(['a', 'bb', 'a']);
  });

  it('names the entry and the byte offset within the batch when an inner frame is bad', () => {
    const bytes = encodeBatch(frames);
    const second = splitBatch(bytes)[1]!;
    const payloadAt = second.offset + second.bytes.length - 4;
    new DataView(bytes.buffer).setFloat32(payloadAt, Infinity, true);
    const err = errorOf(ProtocolError, () => decodeBatch(bytes, ANY_TIME));
    expect(err.code).toBe('EW_PROTO_NONFINITE');
    expect(err.details.entry).toBe(1);
    expect(err.offset).toBe(payloadAt);
  });

  it('rejects a frame count the input cannot hold before allocating anything', () => {
    const bytes = encodeBatch(frames);
    new DataView(bytes.buffer).setUint32(8, 0xffffffff, true);
    expect(errorOf(ProtocolError, () => splitBatch(bytes)).code).toBe('EW_PROTO_LENGTH');
  });

  it.each([
    ['cut inside an entry', (b: Uint8Array) => b.subarray(0, b.length - 8), 'EW_PROTO_TRUNCATED'],
    ['trailing bytes', (b: Uint8Array) => Uint8Array.from([...b, 0, 0, 0, 0]), 'EW_PROTO_LENGTH'],
    ['entry length not a multiple of 4', (b: Uint8Array) => { const c = b.slice(); new DataView(c.buffer).setUint32(12, 61, true); return c; }, 'EW_PROTO_LENGTH'],
    ['zero frames', (b: Uint8Array) => { const c = b.slice(0, 12); new DataView(c.buffer).setUint32(8, 0, true); return c; }, 'EW_PROTO_RANGE'],
    ['batch flags set', (b: Uint8Array) => { const c = b.slice(); c[4] = 1; return c; }, 'EW_PROTO_FLAGS'],
    ['version 9', (b: Uint8Array) => { const c = b.slice(); c[2] = 9; return c; }, 'EW_PROTO_VERSION'],
    ['a single frame where a batch belongs', () => encodeFrame(frame('a', 1, [1])), 'EW_PROTO_KIND'],
  ])('%s', (_, edit, code) => {
    expect(errorOf(ProtocolError, () => decodeBatch(edit(encodeBatch(frames)), ANY_TIME)).code).toBe(code);
  });
});
