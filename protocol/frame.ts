// Binary sample and feature frames (version 1): what an edge agent sends and everything downstream reads.
//
// Wire grammar, all integers little-endian, offsets in bytes (protocol/README.md has the full table):
//
//   frame   = header ids padding payload
//   header  =  0 magic        u8[2]  0x45 0x57 ("EW")
//              2 version      u8     1
//              3 kind         u8     1 raw | 2 features
//              4 flags        u16    bit 0 GAP, bit 1 REPLAY, others zero
//              6 headerLength u16    48 + id bytes, rounded up to a multiple of 4
//              8 seq          u64    per-sensor sequence, <= 2^53-1
//             16 t0           i64    microseconds since the Unix epoch, 0 <= t0 <= 2^53-1
//             24 sampleRate   f32    Hz, finite, > 0
//             28 count        u32    raw: samples per channel | features: windows; >= 1
//             32 width        u16    raw: channels | features: features per window; >= 1
//             34 window       u16    features: window length in samples | raw: 0
//             36 hop          u16    features: hop in samples, 1..window | raw: 0
//             38 reserved     u16    0
//             40 layoutId     u32    raw: channel layout | features: feature layout
//             44 sensorIdLen  u8     1..128
//             45 gatewayIdLen u8     1..128
//             46 groupLen     u8     1..128
//             47 reserved     u8     0
//   ids     = sensorId gatewayId group, ASCII [A-Za-z0-9_.:-], back to back
//   padding = zero bytes up to headerLength
//   payload = count * width f32, raw planar (channel c, sample i at c*count + i),
//             features by window (window w, feature f at w*width + f)
//
// The frame's length is exactly headerLength + 4 * count * width; anything else is rejected.
// decode-frame.ts reads frames, encode-frame.ts writes them; this file holds the shared shape.


export const MAGIC_0 = 0x45; // 'E'
export const MAGIC_1 = 0x57; // 'W'
export const FRAME_VERSION = 1;
export const FIXED_HEADER_BYTES = 48;

export const KIND_RAW = 1;
export const KIND_FEATURES = 2;
export const KIND_BATCH = 3;

export const FLAG_GAP = 1 << 0;
export const FLAG_REPLAY = 1 << 1;
/**
 * Raw frames only: the edge also computes this sensor's features from these samples and sends them
 * as feature frames (mode `both`), so a receiver takes the sensor's windows from those and keeps the
 * raw frame for the archive; counting both would count every window twice.
 */
export const FLAG_FEATURES_SENT = 1 << 2;
export const KNOWN_FLAGS = FLAG_GAP | FLAG_REPLAY | FLAG_FEATURES_SENT;

/** Channel layouts of raw frames. */
export const LAYOUT_UNSPECIFIED = 0;
/** ax ay az (m/s²) gx gy gz (rad/s): the IMU channel order used throughout edgewave. */
export const LAYOUT_IMU6 = 1;

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_FUTURE_MS = 10 * 60 * 1000;


export type FrameKind = 'raw' | 'features';

export interface Frame {
  kind: FrameKind;
  /** FLAG_GAP | FLAG_REPLAY | FLAG_FEATURES_SENT (raw frames only) */
  flags: number;
  sensorId: string;
  gatewayId: string;
  group: string;
  /** Per-sensor sequence number; (sensorId, seq) identifies a frame everywhere downstream. */
  seq: number;
  /** Time of the first sample (raw) or the first window's first sample (features), µs since the epoch. */
  t0: number;
  sampleRate: number;
  /** raw: samples per channel; features: number of windows. */
  count: number;
  /** raw: channels; features: features per window. */
  width: number;
  /** features: window length in samples; raw: 0. */
  window: number;
  /** features: samples between window starts; raw: 0. */
  hop: number;
  layoutId: number;
  /** count * width values: raw planar by channel, features by window. */
  data: Float32Array;
}

/** Everything but the payload, plus where the payload lies: what a bridge checks without decoding. */
export interface FrameHeader extends Omit<Frame, 'data'> {
  headerLength: number;
  byteLength: number;
}

export interface DecodeOptions {
  /** Current time in µs since the epoch; default Date.now() * 1000. */
  nowUs?: number;
  /** Largest accepted t0 - now, in ms; default 10 minutes. Infinity turns the check off. */
  maxFutureMs?: number;
  /** When given, a sensor for which this returns false is rejected with EW_PROTO_UNKNOWN_SENSOR. */
  isKnownSensor?: (sensorId: string) => boolean;
  /** Largest accepted frame, in bytes; default 16 MiB. */
  maxFrameBytes?: number;
  /** Always copy the payload instead of viewing the input's memory. */
  copy?: boolean;
}

/** Header bytes for ids of `idBytes` bytes in all: 48 + ids, rounded up to a multiple of 4. */
export function headerLengthFor(idBytes: number): number {
  return (FIXED_HEADER_BYTES + idBytes + 3) & ~3;
}

/** Byte length of the encoded frame. */
export function frameByteLength(frame: Pick<Frame, 'sensorId' | 'gatewayId' | 'group' | 'count' | 'width'>): number {
  return (
    headerLengthFor(frame.sensorId.length + frame.gatewayId.length + frame.group.length) +
    4 * frame.count * frame.width
  );
}

// Payloads are read and written as the host's Float32Array; the format is little-endian, as are
// WebAssembly and every platform edgewave runs on, so a big-endian host is refused up front.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('edgewave needs a little-endian host (the wire format and WebAssembly are little-endian)');
}
