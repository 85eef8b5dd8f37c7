// Encoding binary frames, and the checks a frame built in memory must pass (the decoder's rules).
// The byte layout is in frame.ts and protocol/README.md.

import { featuresSentOnFeatures, firstNonFinite } from './decode-frame.js';
import { ProtocolError } from './errors.js';
import {
  FIXED_HEADER_BYTES,
  FLAG_FEATURES_SENT,
  FRAME_VERSION,
  KIND_FEATURES,
  KIND_RAW,
  KNOWN_FLAGS,
  MAGIC_0,
  MAGIC_1,
  frameByteLength,
  headerLengthFor,
  type Frame,
} from './frame.js';
import { checkId } from './ids.js';

const TWO_32 = 0x1_0000_0000;

/** Checks a frame built in memory against the same rules the decoder applies. */
export function validateFrame(frame: Frame): void {
  if (frame.kind !== 'raw' && frame.kind !== 'features') {
    throw new ProtocolError('EW_PROTO_KIND', `kind must be "raw" or "features", got ${JSON.stringify(frame.kind)}`, { field: 'kind' });
  }
  if (!Number.isInteger(frame.flags) || (frame.flags & ~KNOWN_FLAGS) !== 0 || frame.flags < 0) {
    throw new ProtocolError('EW_PROTO_FLAGS', `flags ${frame.flags} set bits that version 1 does not define`, { field: 'flags' });
  }
  checkId(frame.sensorId, 'sensorId');
  checkId(frame.gatewayId, 'gatewayId');
  checkId(frame.group, 'group');
  intIn(frame.seq, 'seq', 0, Number.MAX_SAFE_INTEGER);
  intIn(frame.t0, 't0', 0, Number.MAX_SAFE_INTEGER);
  if (!(frame.sampleRate > 0) || !Number.isFinite(Math.fround(frame.sampleRate))) {
    throw new ProtocolError('EW_PROTO_RANGE', `sampleRate must be finite and > 0 as float32, got ${frame.sampleRate}`, { field: 'sampleRate' });
  }
  intIn(frame.count, 'count', 1, 0xffffffff);
  intIn(frame.width, 'width', 1, 0xffff);
  intIn(frame.layoutId, 'layoutId', 0, 0xffffffff);
  if (frame.kind === 'raw') {
    intIn(frame.window, 'window', 0, 0);
    intIn(frame.hop, 'hop', 0, 0);
  } else {
    intIn(frame.window, 'window', 1, 0xffff);
    intIn(frame.hop, 'hop', 1, frame.window);
    if (frame.flags & FLAG_FEATURES_SENT) throw featuresSentOnFeatures();
  }
  if (!(frame.data instanceof Float32Array) || frame.data.length !== frame.count * frame.width) {
    throw new ProtocolError(
      'EW_PROTO_LENGTH',
      `data must be a Float32Array of count x width = ${frame.count * frame.width} values, got ${frame.data?.length}`,
      { field: 'data' },
    );
  }
  const bad = firstNonFinite(frame.data);
  if (bad >= 0) {
    throw new ProtocolError('EW_PROTO_NONFINITE', `data[${bad}] is ${frame.data[bad]}`, { field: 'data', details: { index: bad } });
  }
}

function intIn(v: number, field: string, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError('EW_PROTO_RANGE', `${field} must be an integer in ${min}..${max}, got ${v}`, { field });
  }
}

/**
 * Writes `frame` into `target` at `offset` (which should be 4-byte aligned so that readers get
 * zero-copy payloads) and returns the number of bytes written. Validates first.
 */
export function encodeFrameInto(frame: Frame, target: Uint8Array, offset = 0): number {
  validateFrame(frame);
  const idBytes = frame.sensorId.length + frame.gatewayId.length + frame.group.length;
  const headerLength = headerLengthFor(idBytes);
  const byteLength = headerLength + 4 * frame.data.length;
  if (offset + byteLength > target.length) {
    throw new RangeError(`target has ${target.length - offset} bytes from offset ${offset}, frame needs ${byteLength}`);
  }
  const view = new DataView(target.buffer, target.byteOffset + offset, byteLength);
  target[offset] = MAGIC_0;
  target[offset + 1] = MAGIC_1;
  target[offset + 2] = FRAME_VERSION;
  target[offset + 3] = frame.kind === 'raw' ? KIND_RAW : KIND_FEATURES;
  view.setUint16(4, frame.flags, true);
  view.setUint16(6, headerLength, true);
  view.setUint32(8, frame.seq % TWO_32, true);
  view.setUint32(12, Math.floor(frame.seq / TWO_32), true);
  view.setUint32(16, frame.t0 % TWO_32, true);
  view.setUint32(20, Math.floor(frame.t0 / TWO_32), true);
  view.setFloat32(24, frame.sampleRate, true);
  view.setUint32(28, frame.count, true);
  view.setUint16(32, frame.width, true);
  view.setUint16(34, frame.window, true);
  view.setUint16(36, frame.hop, true);
  view.setUint16(38, 0, true);
  view.setUint32(40, frame.layoutId, true);
  target[offset + 44] = frame.sensorId.length;
  target[offset + 45] = frame.gatewayId.length;
  target[offset + 46] = frame.group.length;
  target[offset + 47] = 0;
  let p = offset + FIXED_HEADER_BYTES;
  for (const id of [frame.sensorId, frame.gatewayId, frame.group]) {
    for (let i = 0; i < id.length; i++) target[p++] = id.charCodeAt(i);
  }
  target.fill(0, p, offset + headerLength);
  const payload = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  target.set(payload, offset + headerLength);
  return byteLength;
}

/** Encodes one frame into a new buffer. */
export function encodeFrame(frame: Frame): Uint8Array {
  const out = new Uint8Array(frameByteLength(frame));
  encodeFrameInto(frame, out, 0);
  return out;
}
