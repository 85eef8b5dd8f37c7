// What the bridge does with one MQTT message, as a pure function: check each frame's header (and
// that its values are finite) without decoding the payload into objects, check that the frame
// belongs to the gateway (and sensor, and kind) of the topic it came on, and turn the message into
// Kafka records keyed by the sensor's group, plus dead letters for whatever was refused.
//
// A batch from a gateway is split by (kind, group): each Kafka record holds the frames of one
// group, so that every sensor of a group lands on one partition. The Kafka sink then packs the
// frames of one group from many messages into one record (a batch), up to kafka.maxRecordBytes; a
// batch whose frames all share kind and group, alone in its request, goes through as it came.

import {
  ProtocolError,
  decodeFrameHeader,
  decodeJsonFrame,
  encodeFrame,
  firstNonFiniteBytes,
  isEdgewaveError,
  splitBatch,
  type FrameHeader,
  type FrameKind,
  type MqttTopics,
} from '../../protocol/index.js';
import { BridgeError } from './errors.js';

export type RecordTopic = 'raw' | 'features' | 'status';

export interface RoutedRecord {
  topic: RecordTopic;
  /** The sensor's group (raw, features) or the gateway (status). */
  key: string;
  /** The encoded frames (raw, features), in arrival order; the Kafka sink may merge them with other records' of the same key. */
  parts?: Uint8Array[];
  /** The record's bytes when they exist already: the status message, a single frame, or a batch that goes through as it came. */
  value?: Uint8Array;
  gatewayId: string;
  /** Frames the record carries (0 for status). */
  frames: number;
}

export interface DeadLetter {
  code: string;
  message: string;
  /** The refused bytes: the whole message, or the one batch entry that was refused. */
  bytes: Uint8Array;
  gatewayId?: string;
  /** Index of the refused entry in its batch. */
  entry?: number;
  /** Byte offset of the problem within the whole message. */
  offset?: number;
}

export interface Routed {
  records: RoutedRecord[];
  dead: DeadLetter[];
  /** Frames accepted. */
  frames: number;
}

export interface RouteOptions {
  topics: MqttTopics;
  /** Accept JSON frames on per-sensor topics. */
  json: boolean;
  maxFutureMs: number;
  maxRecordBytes: number;
  nowUs?: number;
}

const dead = (err: unknown, bytes: Uint8Array, extra: Partial<DeadLetter> = {}): DeadLetter => {
  if (!isEdgewaveError(err)) throw err;
  const offset = (err as { offset?: number }).offset;
  return { code: err.code, message: err.message, bytes, ...(offset === undefined ? {} : { offset }), ...extra };
};

/** The header of one binary frame, checked against the topic's gateway; its values checked finite. */
function checkFrame(bytes: Uint8Array, gatewayId: string, options: RouteOptions): FrameHeader {
  const h = decodeFrameHeader(bytes, { nowUs: options.nowUs, maxFutureMs: options.maxFutureMs, maxFrameBytes: Number.MAX_SAFE_INTEGER });
  if (h.gatewayId !== gatewayId) {
    throw new BridgeError('EW_BRIDGE_GATEWAY_MISMATCH', `frame of gateway ${h.gatewayId} (sensor ${h.sensorId}) came on a topic of gateway ${gatewayId}`, {
      details: { frameGateway: h.gatewayId, topicGateway: gatewayId, sensorId: h.sensorId },
    });
  }
  const bad = firstNonFiniteBytes(bytes, h.headerLength, h.byteLength);
  if (bad >= 0) {
    const index = (bad - h.headerLength) / 4;
    throw new ProtocolError('EW_PROTO_NONFINITE', `value ${index} of the payload of sensor ${h.sensorId} seq ${h.seq} is not finite`, { field: 'payload', offset: bad, details: { index } });
  }
  if (bytes.length > options.maxRecordBytes) {
    throw new BridgeError('EW_BRIDGE_TOO_LARGE', `frame of sensor ${h.sensorId} seq ${h.seq} is ${bytes.length} bytes, more than kafka.maxRecordBytes ${options.maxRecordBytes}`, {
      details: { bytes: bytes.length, max: options.maxRecordBytes },
    });
  }
  return h;
}

/** Routes one MQTT message. Never throws for bad input: what is refused comes back as dead letters. */
export function route(topic: string, payload: Uint8Array, options: RouteOptions): Routed {
  const out: Routed = { records: [], dead: [], frames: 0 };
  let parsed;
  try {
    parsed = options.topics.parse(topic);
  } catch (err) {
    out.dead.push(dead(err, payload));
    return out;
  }
  const { gatewayId } = parsed;
  if (parsed.kind === 'status') {
    let ok = false;
    try {
      const v: unknown = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
      ok = typeof v === 'object' && v !== null && !Array.isArray(v);
    } catch {
      // not JSON
    }
    if (ok) out.records.push({ topic: 'status', key: gatewayId, value: payload, gatewayId, frames: 0 });
    else out.dead.push({ code: 'EW_PROTO_JSON', message: `status of gateway ${gatewayId} is not a JSON object`, bytes: payload, gatewayId });
    return out;
  }
  if (parsed.kind === 'batch') {
    let entries;
    try {
      entries = splitBatch(payload, { maxBatchBytes: Number.MAX_SAFE_INTEGER });
    } catch (err) {
      out.dead.push(dead(err, payload, { gatewayId }));
      return out;
    }
    // (kind, group) → encoded frames, in arrival order.
    const buckets = new Map<string, { kind: FrameKind; group: string; frames: Uint8Array[]; bytes: number }>();
    entries.forEach((e, i) => {
      let h: FrameHeader;
      try {
        h = checkFrame(e.bytes, gatewayId, options);
      } catch (err) {
        const d = dead(err, e.bytes, { gatewayId, entry: i });
        d.offset = e.offset + (d.offset ?? 0);
        d.message = `batch entry ${i}: ${d.message}`;
        out.dead.push(d);
        return;
      }
      const k = `${h.kind}\u0000${h.group}`;
      let b = buckets.get(k);
      if (!b) buckets.set(k, (b = { kind: h.kind, group: h.group, frames: [], bytes: 0 }));
      b.frames.push(e.bytes);
      b.bytes += 4 + e.bytes.length;
    });
    for (const b of buckets.values()) {
      out.frames += b.frames.length;
      const whole = buckets.size === 1 && out.dead.length === 0 && payload.length <= options.maxRecordBytes;
      out.records.push({ topic: b.kind, key: b.group, parts: b.frames, ...(whole ? { value: payload } : {}), gatewayId, frames: b.frames.length });
    }
    return out;
  }
  // A per-sensor topic: one frame, binary or (from third-party sensors) JSON.
  const { sensorId } = parsed;
  try {
    let value = payload;
    let h: Pick<FrameHeader, 'kind' | 'sensorId' | 'gatewayId' | 'group'>;
    if (options.json && payload.length > 0 && payload[0] === 0x7b /* { */) {
      const frame = decodeJsonFrame(payload, { nowUs: options.nowUs, maxFutureMs: options.maxFutureMs });
      value = encodeFrame(frame);
      h = checkFrame(value, gatewayId, options);
    } else {
      h = checkFrame(payload, gatewayId, options);
    }
    if (h.sensorId !== sensorId) {
      throw new BridgeError('EW_BRIDGE_SENSOR_MISMATCH', `frame of sensor ${h.sensorId} came on the topic of sensor ${sensorId}`, { details: { frameSensor: h.sensorId, topicSensor: sensorId } });
    }
    if (h.kind !== parsed.kind) {
      throw new BridgeError('EW_BRIDGE_KIND_MISMATCH', `a ${h.kind} frame came on a ${parsed.kind} topic`, { details: { frameKind: h.kind, topicKind: parsed.kind } });
    }
    out.records.push({ topic: h.kind, key: h.group, parts: [value], value, gatewayId, frames: 1 });
    out.frames = 1;
  } catch (err) {
    out.dead.push(dead(err, payload, { gatewayId }));
  }
  return out;
}
