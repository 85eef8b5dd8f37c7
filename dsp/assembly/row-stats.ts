// rowStats: mean, std, RMS, min, max of many rows in one call (used by quick views such as the demo).

/** Values written per row by `rowStats`: mean, std (population), RMS, min, max. */
export const ROW_STATS_WIDTH: i32 = 5;

/**
 * For each of `rows` rows of `count` f32 at `input`, writes mean, std, RMS, min and max as f32 to
 * `output`. Sums are f64, two-pass for the variance, in index order, so a host computing in f64 the
 * same way gets identical bits.
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
