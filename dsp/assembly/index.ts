// edgewave DSP kernels: the one .wasm that edge, cloud and browser all run.
//
// Memory contract: no allocation inside kernels. The host asks `scratch(bytes)` for a region past
// the module's static data, copies planar Float32 samples into it, and passes pointers to kernels;
// results go to a region the host also takes from scratch. All values are little-endian f32.

/** Returns the start of a 16-byte-aligned region of at least `bytes` bytes, growing memory if needed; 0 if memory cannot grow. */
export function scratch(bytes: i32): usize {
  const base: usize = (__heap_base + 15) & ~(<usize>15);
  const end: usize = base + <usize>bytes;
  const have: usize = (<usize>memory.size()) << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >>> 16);
    if (memory.grow(pages) < 0) return 0;
  }
  return base;
}

/** Values written per row by `rowStats`: mean, std (population), RMS, min, max. */
export const ROW_STATS_WIDTH: i32 = 5;

/**
 * For each of `rows` rows of `count` f32 at `input` (planar channels, or many frames' channels back
 * to back), writes mean, std, RMS, min and max as f32 to `output`. Sums are f64, two-pass for the
 * variance, in index order, so a host computing in f64 the same way gets identical bits.
 */
export function rowStats(input: usize, rows: i32, count: i32, output: usize): void {
  const n = <f64>count;
  for (let r = 0; r < rows; r++) {
    const p = input + ((<usize>r * <usize>count) << 2);
    let sum: f64 = 0;
    let sumSq: f64 = 0;
    let lo = load<f32>(p);
    let hi = lo;
    for (let i = 0; i < count; i++) {
      const v = load<f32>(p + (<usize>i << 2));
      const d = <f64>v;
      sum += d;
      sumSq += d * d;
      lo = min(lo, v);
      hi = max(hi, v);
    }
    const mean = sum / n;
    let dev: f64 = 0;
    for (let i = 0; i < count; i++) {
      const d = <f64>load<f32>(p + (<usize>i << 2)) - mean;
      dev += d * d;
    }
    const q = output + ((<usize>r * ROW_STATS_WIDTH) << 2);
    store<f32>(q, <f32>mean);
    store<f32>(q, <f32>Math.sqrt(dev / n), 4);
    store<f32>(q, <f32>Math.sqrt(sumSq / n), 8);
    store<f32>(q, lo, 12);
    store<f32>(q, hi, 16);
  }
}
