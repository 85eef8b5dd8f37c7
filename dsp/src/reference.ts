// Plain TypeScript versions of the kernels, written to the same arithmetic (f64 sums in index order,
// f32 results) so the WebAssembly output can be checked against them bit for bit.

export const ROW_STATS_WIDTH = 5;

/** mean, std (population), RMS, min, max of each of `rows` rows of `count` values. */
export function rowStatsReference(data: Float32Array, rows: number, count: number): Float32Array {
  const out = new Float32Array(rows * ROW_STATS_WIDTH);
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * count, (r + 1) * count);
    let sum = 0;
    let sumSq = 0;
    let lo = row[0]!;
    let hi = lo;
    for (let i = 0; i < count; i++) {
      const v = row[i]!;
      sum += v;
      sumSq += v * v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const mean = sum / count;
    let dev = 0;
    for (let i = 0; i < count; i++) dev += (row[i]! - mean) ** 2;
    out.set([mean, Math.sqrt(dev / count), Math.sqrt(sumSq / count), lo, hi], r * ROW_STATS_WIDTH);
  }
  return out;
}
