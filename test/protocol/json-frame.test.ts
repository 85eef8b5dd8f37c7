import { describe, expect, it } from 'vitest';
import { FLAG_FEATURES_SENT, FLAG_GAP, ProtocolError, decodeJsonFrame, encodeFrame, encodeJsonFrame, frameToJson, jsonToFrame, type Frame } from '../../protocol/index.js';
import { ANY_TIME, errorOf } from './helpers.js';

const raw: Frame = {
  kind: 'raw', flags: FLAG_GAP, sensorId: 'imu-9', gatewayId: 'gw-2', group: 'site-1', seq: 3, t0: 1_700_000_000_000_000,
  sampleRate: 100, count: 2, width: 3, window: 0, hop: 0, layoutId: 0, data: Float32Array.from([1, 2, 3, 4, 5, 6]),
};

describe('JSON frames', () => {
  it('writes raw samples as one array per channel and reads them back to the same binary frame', () => {
    const json = frameToJson(raw);
    expect(json).toMatchObject({ v: 1, kind: 'raw', flags: ['gap'], samples: [[1, 2], [3, 4], [5, 6]] });
    const back = decodeJsonFrame(encodeJsonFrame(raw), ANY_TIME);
    expect(Buffer.from(encodeFrame(back)).equals(Buffer.from(encodeFrame(raw)))).toBe(true);
  });

  it('writes features as one array per window', () => {
    const features: Frame = { ...raw, kind: 'features', flags: 0, window: 64, hop: 32, layoutId: 5, count: 3, width: 2 };
    expect(frameToJson(features)).toMatchObject({ kind: 'features', window: 64, hop: 32, features: [[1, 2], [3, 4], [5, 6]] });
    expect(Array.from(jsonToFrame(frameToJson(features), ANY_TIME).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('names FEATURES_SENT "features-sent", on raw frames only', () => {
    const flagged: Frame = { ...raw, flags: FLAG_GAP | FLAG_FEATURES_SENT };
    expect(frameToJson(flagged).flags).toEqual(['gap', 'features-sent']);
    expect(decodeJsonFrame(encodeJsonFrame(flagged), ANY_TIME).flags).toBe(FLAG_GAP | FLAG_FEATURES_SENT);
    const features = frameToJson({ ...raw, kind: 'features', flags: 0, window: 4, hop: 2 });
    const err = errorOf(ProtocolError, () => jsonToFrame({ ...features, flags: ['features-sent'] }, ANY_TIME));
    expect([err.code, err.field]).toEqual(['EW_PROTO_FLAGS', 'flags']);
  });

  it('accepts UTF-8 bytes as well as text', () => {
    expect(decodeJsonFrame(new TextEncoder().encode(encodeJsonFrame(raw)), ANY_TIME).sensorId).toBe('imu-9');
  });

  it.each([
    ['not JSON', '{"v":1,', 'EW_PROTO_JSON', undefined],
    ['missing seq', { ...frameToJson(raw), seq: undefined }, 'EW_PROTO_FIELD', 'seq'],
    ['unknown field', { ...frameToJson(raw), sesnorId: 'x' }, 'EW_PROTO_FIELD', '(frame)'],
    ['bad id', { ...frameToJson(raw), gatewayId: 'gw/2' }, 'EW_PROTO_FIELD', 'gatewayId'],
    ['string sample', { ...frameToJson(raw), samples: [[1, '2']] }, 'EW_PROTO_FIELD', 'samples.0.1'],
    ['unknown kind', { ...frameToJson(raw), kind: 'video' }, 'EW_PROTO_FIELD', 'kind'],
    ['version 2', { ...frameToJson(raw), v: 2 }, 'EW_PROTO_FIELD', 'v'],
    ['ragged channels', { ...frameToJson(raw), samples: [[1, 2], [3]] }, 'EW_PROTO_LENGTH', 'samples.1'],
    ['overflows float32', { ...frameToJson(raw), samples: [[1e39]] }, 'EW_PROTO_NONFINITE', 'data'],
    ['hop above window', { ...frameToJson({ ...raw, kind: 'features', window: 4, hop: 2 }), hop: 5 }, 'EW_PROTO_RANGE', 'hop'],
  ])('%s', (_, input, code, field) => {
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    const err = errorOf(ProtocolError, () => decodeJsonFrame(text, ANY_TIME));
    expect(err.code).toBe(code);
    if (field) expect(err.field).toBe(field);
  });

  it('applies the same clock-skew and registration checks as the binary decoder', () => {
    const text = encodeJsonFrame(raw);
    expect(errorOf(ProtocolError, () => decodeJsonFrame(text, { nowUs: raw.t0 - 3600e6 })).code).toBe('EW_PROTO_FUTURE');
    expect(errorOf(ProtocolError, () => decodeJsonFrame(text, { ...ANY_TIME, isKnownSensor: () => false })).code).toBe('EW_PROTO_UNKNOWN_SENSOR');
  });
});
