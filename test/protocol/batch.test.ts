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

  it('decodes a batch that sits at an unaligned offset (a Kafka record value) into aligned views of one copy, not the input', () => {
    const bytes = encodeBatch(frames);
    const holder = new Uint8Array(bytes.length + 3);
    holder.set(bytes, 3);
    const unaligned = holder.subarray(3);
    const decoded = decodeBatch(unaligned, ANY_TIME);
    expect(decoded.map((f) => Array.from(f.data))).toEqual([[1, 2, 3], [4], [5, 6]]);
    expect(decoded.every((f) => f.data.byteOffset % 4 === 0 && f.data.buffer === decoded[0]!.data.buffer && f.data.buffer !== holder.buffer)).toBe(true);
    holder.fill(0); // the input reused, as a fetch buffer is: the frames keep their values
    expect(Array.from(decoded[2]!.data)).toEqual([5, 6]);
    // copy: true never views the input, aligned or not
    const copied = decodeBatch(bytes, { ...ANY_TIME, copy: true });
    expect(copied.every((f) => f.data.buffer !== bytes.buffer)).toBe(true);
    expect(copied.map((f) => Array.from(f.data))).toEqual([[1, 2, 3], [4], [5, 6]]);
  });

  it('reads every id right across many distinct ids (the id strings are shared, found by a hash of their bytes)', () => {
    // Enough ids for hash collisions among them and for the table of known ids to fill and start over.
    const ids = Array.from({ length: 70_000 }, (_, i) => `s${i.toString(36)}-${(i * 7919) % 10007}`);
    const perBatch = 500;
    let decodedIds: string[] = [];
    for (let round = 0; round < 2; round++) {
      decodedIds = [];
      for (let i = 0; i < ids.length; i += perBatch) {
        const batch = encodeBatch(ids.slice(i, i + perBatch).map((id, k) => ({ ...frame(id, k, [k]), gatewayId: `gw-${id}`, group: `g${k % 5}` })));
        for (const f of decodeBatch(batch, ANY_TIME)) {
          expect(f.gatewayId).toBe(`gw-${f.sensorId}`);
          decodedIds.push(f.sensorId);
        }
      }
      expect(decodedIds).toEqual(ids);
    }
    // Two ids with the same hash key in the decoder's table, one after the other and back.
    const pair = ['imu-22939', 'imu-308914'];
    const mixed = encodeBatch([pair[0]!, pair[1]!, pair[0]!, pair[1]!].map((id, k) => frame(id, k, [k])));
    expect(decodeBatch(mixed, ANY_TIME).map((f) => f.sensorId)).toEqual([pair[0], pair[1], pair[0], pair[1]]);
  });
});
