// Loads dsp.wasm once and gives it a typed face. The same bytes serve Node (read from dist/) and
// browsers (instantiateStreaming from a URL); the SIMD build is used where the host supports it,
// the scalar build elsewhere, with identical results. EW_DSP_SIMD=0|1 forces the choice in Node.

import { DspError } from './errors.js';
import { rowStats } from './row-stats.js';

/** The raw exports of dsp.wasm (dsp/assembly/index.ts). Pointers and handles are byte addresses. */
export interface DspExports {
  memory: WebAssembly.Memory;
  simd(): number;
  scratch(bytes: number): number;
  rowStats(input: number, rows: number, count: number, output: number): void;
  create(channels: number, window: number, hop: number, fftSize: number, sampleRate: number, mask: number, capacity: number, maxChunk: number): number;
  addBand(e: number, lo: number, hi: number): number;
  addGroup(e: number, a: number, b: number, c: number): number;
  deriveChannel(e: number, channel: number, input: number): number;
  addFilter(e: number, channel: number, kind: number, order: number, f1: number, f2: number): number;
  finalize(e: number): number;
  reset(e: number, slot: number): void;
  total(e: number, slot: number): number;
  reserveInput(e: number, entries: number, samples: number): number;
  ingest(e: number, entries: number): number;
  compute(e: number, first: number, count: number): void;
  computeWindows(e: number, windows: number, count: number): number;
  describe(e: number): number;
}

export interface DspModule {
  /** True when the SIMD build runs. */
  readonly simd: boolean;
  readonly exports: DspExports;
  /** mean, std, RMS, min, max of each row; `data` holds `rows` rows of `count` values. */
  rowStats(data: Float32Array, rows: number, count: number): Float32Array;
}

export type DspSource = URL | string | ArrayBuffer | ArrayBufferView | Response;

export interface LoadOptions {
  /** 'auto' (default): SIMD when the host validates it. */
  simd?: boolean | 'auto';
  /** Where the .wasm comes from; by default dist/dsp/dsp{.simd,}.wasm next to this module. */
  source?: DspSource;
}

// A minimal module using a v128 instruction (i8x16.splat, i8x16.popcnt): valid only where SIMD is.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

export function simdSupported(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

const cache = new Map<boolean, Promise<DspModule>>();

/** Loads the kernels, lazily and once per build; pass `source` to load given bytes instead (not cached). */
export function loadDsp(options: LoadOptions = {}): Promise<DspModule> {
  const simd = chooseSimd(options.simd ?? 'auto');
  if (options.source !== undefined) return instantiate(options.source);
  let p = cache.get(simd);
  if (!p) {
    p = instantiate(defaultUrl(simd)).catch((err: unknown) => {
      cache.delete(simd);
      throw err;
    });
    cache.set(simd, p);
  }
  return p;
}

function chooseSimd(wanted: boolean | 'auto'): boolean {
  const forced = typeof process !== 'undefined' ? process.env?.EW_DSP_SIMD : undefined;
  if (forced === '0' || forced === '1') wanted = forced === '1';
  if (wanted === 'auto') return simdSupported();
  if (wanted && !simdSupported()) throw new DspError('EW_DSP_LOAD', 'the SIMD build was asked for, but this WebAssembly engine has no SIMD');
  return wanted;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

function defaultUrl(simd: boolean): URL {
  const file = simd ? 'dsp.simd.wasm' : 'dsp.wasm';
  // Compiled: dist/dsp/src/loader.js → dist/dsp/<file>. From the sources: dsp/src/loader.ts → dist/dsp/<file>.
  return new URL(import.meta.url.includes('/dist/') ? `../${file}` : `../../dist/dsp/${file}`, import.meta.url);
}

async function instantiate(source: DspSource): Promise<DspModule> {
  let instance: WebAssembly.Instance;
  try {
    if (source instanceof Response) {
      instance = (await WebAssembly.instantiateStreaming(source, {})).instance;
    } else if (source instanceof URL || typeof source === 'string') {
      const url = source instanceof URL ? source : new URL(source, isNode ? `file://${process.cwd()}/` : globalThis.location?.href);
      if (isNode && url.protocol === 'file:') {
        const { readFile } = await import('node:fs/promises');
        const bytes = await readFile(url).catch((err: unknown) => {
          throw new DspError('EW_DSP_LOAD', `cannot read ${url.pathname}: ${(err as Error).message}; run \`npm run build\``, err);
        });
        instance = (await WebAssembly.instantiate(new Uint8Array(bytes), {})).instance;
      } else {
        instance = (await WebAssembly.instantiateStreaming(fetch(url), {})).instance;
      }
    } else {
      const bytes = ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
      instance = (await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, {})).instance;
    }
  } catch (err) {
    if (err instanceof DspError) throw err;
    throw new DspError('EW_DSP_LOAD', `dsp.wasm cannot be loaded: ${(err as Error).message}`, err);
  }
  const exports = instance.exports as unknown as DspExports;
  if (typeof exports.simd !== 'function' || typeof exports.create !== 'function') {
    throw new DspError('EW_DSP_LOAD', 'the module is not dsp.wasm (its exports do not match)');
  }
  const dsp: DspModule = Object.freeze({
    simd: exports.simd() === 1,
    exports,
    rowStats: (data: Float32Array, rows: number, count: number) => rowStats(dsp, data, rows, count),
  });
  return dsp;
}
