// Loads dsp.wasm once and wraps its kernels for TypeScript callers (edge, cloud, and later the
// browser): same bytes everywhere. Inputs are copied into WebAssembly memory once per call, and
// one call processes many rows (all channels of many frames).

import { readFile } from 'node:fs/promises';
import { DspError } from './errors.js';
import { ROW_STATS_WIDTH } from './reference.js';

interface Exports {
  memory: WebAssembly.Memory;
  scratch(bytes: number): number;
  rowStats(input: number, rows: number, count: number, output: number): void;
}

export interface DspKernels {
  /** mean, std, RMS, min, max of each row; `data` holds `rows` rows of `count` values. */
  rowStats(data: Float32Array, rows: number, count: number): Float32Array;
}

/** Where the built module lies: next to the compiled loader (dist/), or in dist/ seen from the sources. */
const CANDIDATES = [new URL('../dsp.wasm', import.meta.url), new URL('../../dist/dsp/dsp.wasm', import.meta.url)];

let loading: Promise<DspKernels> | undefined;

export function loadDsp(): Promise<DspKernels> {
  return (loading ??= instantiate().catch((err: unknown) => {
    loading = undefined;
    throw err;
  }));
}

async function instantiate(): Promise<DspKernels> {
  let bytes: Buffer | undefined;
  for (const url of CANDIDATES) {
    bytes = await readFile(url).catch(() => undefined);
    if (bytes) break;
  }
  if (!bytes) {
    throw new DspError('EW_DSP_LOAD', `dsp.wasm not found (looked in ${CANDIDATES.map((u) => u.pathname).join(', ')}); run \`npm run build\``);
  }
  let exports: Exports;
  try {
    const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), {});
    exports = instance.exports as unknown as Exports;
  } catch (err) {
    throw new DspError('EW_DSP_LOAD', `dsp.wasm cannot be instantiated: ${(err as Error).message}`, err);
  }
  return {
    rowStats(data, rows, count) {
      if (rows < 1 || count < 1 || data.length !== rows * count) {
        throw new DspError('EW_DSP_SHAPE', `rowStats: ${data.length} values is not rows ${rows} x count ${count}`);
      }
      const outBytes = rows * ROW_STATS_WIDTH * 4;
      const input = exports.scratch(data.byteLength + outBytes);
      if (input === 0) throw new DspError('EW_DSP_MEMORY', `rowStats: cannot grow memory to ${data.byteLength + outBytes} bytes`);
      const output = input + data.byteLength;
      // Views are made after scratch(): growing memory detaches earlier views.
      new Float32Array(exports.memory.buffer, input, data.length).set(data);
      exports.rowStats(input, rows, count, output);
      return new Float32Array(exports.memory.buffer, output, rows * ROW_STATS_WIDTH).slice();
    },
  };
}
