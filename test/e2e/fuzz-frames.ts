// Bad frames for the pipeline, made fast and reproducibly (a seeded generator): every one is wrong
// by construction, so every one must come out as a dead letter. Kinds:
//   random     bytes that do not start with the magic
//   truncated  a valid frame cut short
//   extended   a valid frame with bytes after its end
//   version    an unknown frame version
//   kind       an unknown frame kind
//   flags      a flag bit this version does not define
//   reserved   a reserved header byte that is not zero
//   nonfinite  a NaN or infinite sample
//   future     a start time a day ahead of the clock
//   gateway    a frame of another gateway (a sensor this gateway does not have)
//   id         a sensor id with a character outside [A-Za-z0-9_.:-]
//   rate       a sample rate of 0
// A batch of them goes on a gateway's batch topic; the bridge checks every entry on its own. A batch
// entry's length must be a multiple of 4 and at least 56 (else the whole batch is one bad record),
// so in batches the random, truncated and extended kinds keep to such lengths; `single` makes frames
// of any length, for messages of one frame.

import { mulberry32 } from '../../edge/imu-signal.js';
import { batchOfEncoded, encodeFrame, type Frame } from '../../protocol/index.js';

/** The shortest batch entry: a 48-byte header, three one-character ids padded to 4, one value. */
const MIN_ENTRY = 56;

export const FUZZ_KINDS = ['random', 'truncated', 'extended', 'version', 'kind', 'flags', 'reserved', 'nonfinite', 'future', 'gateway', 'id', 'rate'] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

/** Makes bad frames claiming to come from `gatewayId`, `perBatch` to a batch. */
export class FuzzFrames {
  readonly counts = new Map<FuzzKind, number>(FUZZ_KINDS.map((k) => [k, 0]));
  private readonly random: () => number;
  private seq = 0;

  constructor(private readonly gatewayId: string, seed: number, private readonly nowMs = Date.now()) {
    this.random = mulberry32(seed);
  }

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  private frame(over: Partial<Frame> = {}): Frame {
    const count = 1 + this.int(20);
    const data = new Float32Array(6 * count);
    for (let i = 0; i < data.length; i++) data[i] = (this.random() - 0.5) * 20;
    return {
      kind: 'raw', flags: 0, sensorId: `fz-${this.int(50)}`, gatewayId: this.gatewayId, group: 'fuzz', seq: this.seq++,
      t0: this.nowMs * 1000, sampleRate: 200, count, width: 6, window: 0, hop: 0, layoutId: 1, data, ...over,
    };
  }

  /** One bad frame of the given kind; `aligned`: a length a batch entry may have (a multiple of 4, at least 56). */
  make(kind: FuzzKind, aligned = true): Uint8Array {
    this.counts.set(kind, this.counts.get(kind)! + 1);
    const length = (n: number, min: number) => (aligned ? Math.max(MIN_ENTRY, n - (n % 4)) : Math.max(min, n));
    switch (kind) {
      case 'random': {
        const b = new Uint8Array(length(1 + this.int(200), 1));
        for (let i = 0; i < b.length; i++) b[i] = this.int(256);
        if (b[0] === 0x45) b[0] = 0x46;
        return b;
      }
      case 'truncated': {
        const b = encodeFrame(this.frame());
        return b.slice(0, Math.min(b.length - 4, length(1 + this.int(b.length - 1), 1)));
      }
      case 'extended': {
        const b = encodeFrame(this.frame());
        const out = new Uint8Array(b.length + (aligned ? 4 * (1 + this.int(4)) : 1 + this.int(8)));
        out.set(b);
        return out;
      }
      case 'version':
        return this.patch((b) => (b[2] = 2 + this.int(254)));
      case 'kind':
        return this.patch((b) => (b[3] = 4 + this.int(252)));
      case 'flags': {
        // Bits 0 (GAP), 1 (REPLAY) and 2 (FEATURES_SENT, raw frames) are defined; one of bits 3-15 is set.
        const bit = 3 + this.int(13);
        return this.patch((b) => (b[4 + (bit >> 3)] = b[4 + (bit >> 3)]! | (1 << (bit & 7))));
      }
      case 'reserved':
        return this.patch((b) => (b[[38, 39, 47][this.int(3)]!] = 1 + this.int(255)));
      case 'nonfinite': {
        const f = this.frame();
        const b = encodeFrame(f);
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const payload = b.length - 4 * f.data.length;
        view.setFloat32(payload + 4 * this.int(f.data.length), [NaN, Infinity, -Infinity][this.int(3)]!, true);
        return b;
      }
      case 'future':
        return encodeFrame(this.frame({ t0: (this.nowMs + 86_400_000 + this.int(1e9)) * 1000 }));
      case 'gateway':
        return encodeFrame(this.frame({ gatewayId: `${this.gatewayId}-other` }));
      case 'id': {
        const b = encodeFrame(this.frame({ sensorId: 'fz-bad-id' }));
        // 'fz-bad-id' begins at byte 48; its fourth character becomes one no id may hold.
        b[48 + 3] = [0x20, 0x2f, 0x23, 0x2b, 0x00, 0xff][this.int(6)]!;
        return b;
      }
      case 'rate':
        return this.patch((b) => new DataView(b.buffer, b.byteOffset).setFloat32(24, 0, true));
    }
  }

  /** A valid frame with one change made by `edit`. */
  private patch(edit: (b: Uint8Array) => unknown): Uint8Array {
    const b = encodeFrame(this.frame());
    edit(b);
    return b;
  }

  /** A bad frame of any length, of a kind drawn at random (for a message of its own). */
  single(): Uint8Array {
    return this.make(FUZZ_KINDS[this.int(FUZZ_KINDS.length)]!, false);
  }

  /** A batch of `n` bad frames of kinds drawn at random. */
  batch(n: number): Uint8Array {
    return batchOfEncoded(Array.from({ length: n }, () => this.make(FUZZ_KINDS[this.int(FUZZ_KINDS.length)]!)));
  }
}
