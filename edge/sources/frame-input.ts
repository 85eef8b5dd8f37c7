// Raw frames arriving from sensors (UDP datagrams, a gateway-local MQTT broker): binary protocol/
// frames or their JSON form, decoded, checked, and handed to the pipeline; the sensor is
// registered on first sight. Anything else is refused with its protocol error code.

import { EdgewaveError, FLAG_GAP, ProtocolError, decodeFrame, decodeJsonFrame, isBatch, splitBatch } from '../../protocol/index.js';
import type { SourceContext } from './source.js';

export type FrameFormat = 'binary' | 'json' | 'auto';

export class FrameInput {
  /** Where each sensor's next sample is expected, µs. */
  private readonly nextT = new Map<string, number>();

  constructor(
    private readonly name: string,
    private readonly format: FrameFormat,
    private readonly ctx: SourceContext,
  ) {}

  take(bytes: Uint8Array): void {
    try {
      const json = this.format === 'json' || (this.format === 'auto' && bytes[0] === 0x7b); // '{'
      if (!json && isBatch(bytes)) {
        for (const f of splitBatch(bytes)) this.take(f.bytes);
        return;
      }
      const frame = json ? decodeJsonFrame(bytes) : decodeFrame(bytes);
      if (frame.kind !== 'raw') throw new ProtocolError('EW_PROTO_KIND', 'sensors send raw frames; this is a features frame', { field: 'kind' });
      if (frame.width !== 6) throw new ProtocolError('EW_PROTO_RANGE', `the agent takes 6-channel IMU frames; this one has ${frame.width}`, { field: 'width' });
      this.ctx.register({ sensorId: frame.sensorId, group: frame.group, sampleRate: frame.sampleRate });
      const expected = this.nextT.get(frame.sensorId);
      const period = 1e6 / frame.sampleRate;
      const gap = (frame.flags & FLAG_GAP) !== 0 || (expected !== undefined && Math.abs(frame.t0 - expected) > 0.5 * period);
      this.nextT.set(frame.sensorId, frame.t0 + frame.count * period);
      this.ctx.add(frame.sensorId, frame.data, frame.t0, gap);
      this.ctx.metrics.samples.inc(frame.count);
    } catch (err) {
      // Bad frames and sensors past the limit are refused and counted; they never stop the source.
      if (err instanceof EdgewaveError) this.ctx.reject(this.name, err.code, err.message);
      else throw err;
    }
  }
}
