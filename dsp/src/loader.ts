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
  setSortCache(e: number, on: number): void;
  skipGroups(e: number, channel: number, groups: number): number;
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
  /** The compiled module: each extractor runs in an instance of its own. */
  readonly module: WebAssembly.Module;
  /** A shared instance, for one-off kernels such as rowStats. */
  readonly exports: DspExports;
  /** A new instance with its own memory (synchronous: the module is already compiled). */
  instantiate(): DspExports;
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
  // Bundled (the edge agent's single file): the .wasm lies beside the bundle.
  const candidates = [`../${file}`, `../../dist/dsp/${file}`, `./${file}`].map((p) => new URL(p, import.meta.url));
  if (!isNode) return candidates[import.meta.url.includes('/dist/') ? 0 : 1]!;
  return candidates.find((u) => existsSyncSafe(u)) ?? candidates[1]!;
}

function existsSyncSafe(url: URL): boolean {
  try {
    return nodeFs?.existsSync(url) ?? false;
  } catch {
    return false;
  }
}

// Node's fs, loaded once at startup where there is one (the browser build never touches it).
const nodeFs: typeof import('node:fs') | undefined = isNode ? await import('node:fs') : undefined;

async function instantiate(source: DspSource): Promise<DspModule> {
  let module: WebAssembly.Module;
  try {
    if (source instanceof Response) {
      module = await WebAssembly.compileStreaming(source);
    } else if (source instanceof URL || typeof source === 'string') {
      const url = source instanceof URL ? source : new URL(source, isNode ? `file://${process.cwd()}/` : globalThis.location?.href);
      if (isNode && url.protocol === 'file:') {
        const { readFile } = await import('node:fs/promises');
        const bytes = await readFile(url).catch((err: unknown) => {
          throw new DspError('EW_DSP_LOAD', `cannot read ${url.pathname}: ${(err as Error).message}; run \`npm run build\``, err);
        });
        module = await WebAssembly.compile(new Uint8Array(bytes));
      } else {
        module = await WebAssembly.compileStreaming(fetch(url));
      }
    } else {
      const bytes = ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    }
  } catch (err) {
    if (err instanceof DspError) throw err;
    throw new DspError('EW_DSP_LOAD', `dsp.wasm cannot be loaded: ${(err as Error).message}`, err);
  }
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = REQUIRED_EXPORTS.filter((n) => !names.has(n));
  if (missing.length) throw new DspError('EW_DSP_LOAD', `the module is not this loader's dsp.wasm: it lacks ${missing.join(', ')}`);
  const newInstance = (): DspExports => {
    try {
      return (instantiateSync(module)).exports as unknown as DspExports;
    } catch (err) {
      throw new DspError('EW_DSP_LOAD', `dsp.wasm cannot be instantiated: ${(err as Error).message}`, err);
    }
  };
  const exports = newInstance();
  const dsp: DspModule = Object.freeze({
    simd: exports.simd() === 1,
    module,
    exports,
    instantiate: newInstance,
    rowStats: (data: Float32Array, rows: number, count: number) => rowStats(dsp, data, rows, count),
  });
  return dsp;
}

const REQUIRED_EXPORTS = ['memory', 'simd', 'create', 'finalize', 'ingest', 'compute', 'computeWindows', 'describe', 'rowStats', 'scratch', 'skipGroups'];

/** The module has no imports, so instantiating it needs no awaiting. */
function instantiateSync(module: WebAssembly.Module): WebAssembly.Instance {
  return new WebAssembly.Instance(module, {});
}
