// The bridge's routing of one MQTT message, without servers: records by (kind, group), batches
// passed through without a copy when they can be, and every kind of refused input turned into a
// dead letter with its reason, its bytes and where the problem is.

import { describe, expect, it } from 'vitest';
import { route, type RouteOptions } from '../../../cloud/bridge/route.js';
import { batchOfEncoded, decodeBatch, encodeBatch, encodeFrame, encodeJsonFrame, frameToJson, mqttTopics, type Frame } from '../../../protocol/index.js';

const NOW_US = 1_795_000_000_000_000;
const options: RouteOptions = { topics: mqttTopics('edgewave'), json: true, maxFutureMs: 600_000, maxRecordBytes: 1_000_000, nowUs: NOW_US };

function frame(over: Partial<Frame> = {}): Frame {
  const count = over.count ?? 4;
  return {
    kind: 'raw', flags: 0, sensorId: 's1', gatewayId: 'gw1', group: 'g1', seq: 1, t0: NOW_US - 1000, sampleRate: 200,
    count, width: 6, window: 0, hop: 0, layoutId: 1, data: Float32Array.from({ length: count * 6 }, (_, i) => i), ...over,
  };
}
const featureFrame = (over: Partial<Frame> = {}) => frame({ kind: 'features', count: 2, width: 16, window: 256, hop: 256, layoutId: 7, data: new Float32Array(32).fill(0.5), ...over });
const seqs = (rec: { parts?: Uint8Array[] }) => decodeBatch(batchOfEncoded(rec.parts!)).map((f) => `${f.sensorId}:${f.seq}`);

describe('route', () => {
  it('a batch of one kind and group goes through as it came, without a copy', () => {
    const payload = encodeBatch([frame({ seq: 1 }), frame({ sensorId: 's2', seq: 9 })]);
    const r = route('edgewave/gw1/batch', payload, options);
    expect(r.dead).toEqual([]);
    expect(r.frames).toBe(2);
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ topic: 'raw', key: 'g1', gatewayId: 'gw1', frames: 2 });
    expect(r.records[0]!.value).toBe(payload);
  });

  it('a mixed batch splits into one record per (kind, group), frames in arrival order', () => {
    const frames = [frame({ seq: 1 }), frame({ sensorId: 's2', group: 'g2', seq: 1 }), featureFrame({ seq: 2 }), frame({ seq: 3 }), frame({ sensorId: 's2', group: 'g2', seq: 2 })];
    const r = route('edgewave/gw1/batch', encodeBatch(frames), options);
    expect(r.frames).toBe(5);
    const by = Object.fromEntries(r.records.map((x) => [`${x.topic}/${x.key}`, seqs(x)]));
    expect(by).toEqual({ 'raw/g1': ['s1:1', 's1:3'], 'raw/g2': ['s2:1', 's2:2'], 'features/g1': ['s1:2'] });
  });

  it('a batch larger than a Kafka record gives its frames, for the sink to pack under maxRecordBytes', () => {
    const frames = Array.from({ length: 50 }, (_, i) => frame({ seq: i, count: 40 }));
    const r = route('edgewave/gw1/batch', encodeBatch(frames), { ...options, maxRecordBytes: 4096 });
    expect(r.records).toHaveLength(1);
    expect(r.records[0]!.value).toBeUndefined();
    expect(seqs(r.records[0]!)).toEqual(frames.map((f) => `s1:${f.seq}`));
  });

  it('single frames on per-sensor topics, binary or JSON (converted to binary)', () => {
    const f = frame({ sensorId: 's7', seq: 3 });
    const bin = route('edgewave/gw1/s7/raw', encodeFrame(f), options);
    expect(bin.records[0]).toMatchObject({ topic: 'raw', key: 'g1', frames: 1 });
    const js = route('edgewave/gw1/s7/raw', Buffer.from(encodeJsonFrame(f)), options);
    expect(js.dead).toEqual([]);
    expect(Buffer.from(js.records[0]!.value!).equals(Buffer.from(encodeFrame(f)))).toBe(true);
    expect(js.records[0]!.parts).toEqual([js.records[0]!.value]);
    const feat = route('edgewave/gw1/s1/features', encodeFrame(featureFrame()), options);
    expect(feat.records[0]).toMatchObject({ topic: 'features', key: 'g1' });
  });

  it('status messages go to the status topic keyed by gateway; a non-JSON status is a dead letter', () => {
    const ok = route('edgewave/gw1/status', Buffer.from('{"state":"online"}'), options);
    expect(ok.records[0]).toMatchObject({ topic: 'status', key: 'gw1', frames: 0 });
    expect(route('edgewave/gw1/status', Buffer.from('online'), options).dead[0]!.code).toBe('EW_PROTO_JSON');
  });

  const bad: [string, string, () => Uint8Array, string][] = [
    ['not an edgewave frame', 'edgewave/gw1/s1/raw', () => Buffer.from('hello world, this is text'), 'EW_PROTO_MAGIC'],
    ['truncated', 'edgewave/gw1/s1/raw', () => encodeFrame(frame()).subarray(0, 60), 'EW_PROTO_TRUNCATED'],
    ['wrong version', 'edgewave/gw1/s1/raw', () => Object.assign(encodeFrame(frame()).slice(), { 2: 9 }), 'EW_PROTO_VERSION'],
    ['a NaN value', 'edgewave/gw1/s1/raw', () => encodeFrame(frame()).slice().fill(0xff, 100, 104), 'EW_PROTO_NONFINITE'],
    ['far in the future', 'edgewave/gw1/s1/raw', () => encodeFrame(frame({ t0: NOW_US + 3600e6 })), 'EW_PROTO_FUTURE'],
    ["another gateway's frame", 'edgewave/gw2/s1/raw', () => encodeFrame(frame()), 'EW_BRIDGE_GATEWAY_MISMATCH'],
    ["another sensor's frame", 'edgewave/gw1/s2/raw', () => encodeFrame(frame()), 'EW_BRIDGE_SENSOR_MISMATCH'],
    ['a raw frame on a features topic', 'edgewave/gw1/s1/features', () => encodeFrame(frame()), 'EW_BRIDGE_KIND_MISMATCH'],
    ['a topic of no known form', 'edgewave/gw1/s1/other', () => encodeFrame(frame()), 'EW_PROTO_TOPIC'],
    ['bad JSON', 'edgewave/gw1/s1/raw', () => Buffer.from('{"kind": "raw", '), 'EW_PROTO_JSON'],
    ['a JSON frame missing a field', 'edgewave/gw1/s1/raw', () => Buffer.from(JSON.stringify({ ...frameToJson(frame()), seq: undefined })), 'EW_PROTO_FIELD'],
    ['a cut batch', 'edgewave/gw1/batch', () => encodeBatch([frame(), frame({ seq: 2 })]).subarray(0, 200), 'EW_PROTO_TRUNCATED'],
  ];
  it.each(bad)('%s is a dead letter with its reason and bytes', (_what, topic, bytes, code) => {
    const payload = bytes();
    const r = route(topic, payload, options);
    expect(r.records).toEqual([]);
    expect(r.dead).toHaveLength(1);
    expect(r.dead[0]!.code).toBe(code);
    expect(Buffer.from(r.dead[0]!.bytes).equals(Buffer.from(payload))).toBe(true);
  });

  it('a bad entry in a batch is dead-lettered alone, with its index and offset; the rest goes on', () => {
    const frames = [frame({ seq: 1 }), frame({ seq: 2, gatewayId: 'gw9' }), frame({ seq: 3 })];
    const payload = encodeBatch(frames);
    const r = route('edgewave/gw1/batch', payload, options);
    expect(r.frames).toBe(2);
    expect(r.records.flatMap((x) => seqs(x))).toEqual(['s1:1', 's1:3']);
    expect(r.dead).toHaveLength(1);
    const d = r.dead[0]!;
    expect(d).toMatchObject({ code: 'EW_BRIDGE_GATEWAY_MISMATCH', entry: 1, gatewayId: 'gw1' });
    expect(Buffer.from(d.bytes).equals(Buffer.from(encodeFrame(frames[1]!)))).toBe(true);
    // The offset points at that frame inside the message.
    expect(Buffer.from(payload.subarray(d.offset!, d.offset! + d.bytes.length)).equals(Buffer.from(d.bytes))).toBe(true);
    // A batch with a refused entry is never passed on as it came.
    expect(r.records[0]!.value).toBeUndefined();
  });

  it('a frame larger than a Kafka record may be is dead-lettered as EW_BRIDGE_TOO_LARGE', () => {
    const big = frame({ count: 100 });
    const r = route('edgewave/gw1/s1/raw', encodeFrame(big), { ...options, maxRecordBytes: 1024 });
    expect(r.dead[0]!.code).toBe('EW_BRIDGE_TOO_LARGE');
  });
});
