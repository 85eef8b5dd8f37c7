// rowStats through dsp.wasm: mean, std, RMS, min, max of many rows in one call.

import { DspError } from './errors.js';
import type { DspModule } from './loader.js';
import { ROW_STATS_WIDTH } from './reference.js';

/** mean, std, RMS, min, max of each row; `data` holds `rows` rows of `count` values. */
export function rowStats(dsp: DspModule, data: Float32Array, rows: number, count: number): Float32Array {
  if (rows < 1 || count < 1 || data.length !== rows * count) {
    throw new DspError('EW_DSP_SHAPE', `rowStats: ${data.length} values is not rows ${rows} x count ${count}`);
  }
  const x = dsp.exports;
  const outBytes = rows * ROW_STATS_WIDTH * 4;
  const input = x.scratch(data.byteLength + outBytes);
  if (input === 0) throw new DspError('EW_DSP_MEMORY', `rowStats: cannot grow memory to ${data.byteLength + outBytes} bytes`);
  const output = input + data.byteLength;
  // Views are made after scratch(): growing memory detaches earlier views.
  new Float32Array(x.memory.buffer, input, data.length).set(data);
  x.rowStats(input, rows, count, output);
  return new Float32Array(x.memory.buffer, output, rows * ROW_STATS_WIDTH).slice();
}
