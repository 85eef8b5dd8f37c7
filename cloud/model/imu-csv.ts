// IMU samples as CSV text, the input of the kernel lab in the browser and on the server. The same
// columns as the edge agent's CSV source (edge/sources/csv-source.ts), so a file a gateway replays
// can be dropped into the lab:
//
//   timestamp,ax,ay,az,gx,gy,gz       header: names in any order; more columns are ignored
//   0.000,0.12,-0.03,9.81,0.01,0,0    timestamp in seconds (optional when the rate is given)
//   0.005,...                         ax ay az in m/s², gx gy gz in rad/s
//
// Browser-safe: no Node modules. Values are read as numbers and stored as float32, exactly as the
// kernels take them; `formatImuCsv` writes float32 values so they read back bit for bit.

import { ModelError } from './model.js';

export const IMU_CHANNELS = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;
/** The most rows a lab input may have (about 80 minutes at 200 Hz). */
export const MAX_CSV_ROWS = 1_000_000;

export interface ImuSeries {
  sampleRate: number;
  /** Samples per channel. */
  count: number;
  /** Planar: channel c's samples at [c * count, (c + 1) * count), in IMU_CHANNELS order. */
  samples: Float32Array;
}

const invalid = (message: string, details: Record<string, unknown>) => new ModelError('EW_MODEL_INPUT', message, { details });

/**
 * Reads IMU CSV text. The rate is `sampleRate` when given, else 1 / the median step of the
 * timestamp column. Errors (EW_MODEL_INPUT) name the line and column.
 */
export function parseImuCsv(text: string, o: { sampleRate?: number } = {}): ImuSeries {
  const lines = text.split(/\r?\n/);
  let at = 0;
  while (at < lines.length && lines[at]!.trim() === '') at++;
  if (at === lines.length) throw invalid('the CSV is empty: it needs a header line (timestamp,ax,ay,az,gx,gy,gz) and samples', { line: 1 });
  const header = lines[at]!.split(',').map((h) => h.trim().toLowerCase());
  const columns = IMU_CHANNELS.map((c) => header.indexOf(c));
  const missing = IMU_CHANNELS.filter((_, i) => columns[i]! < 0);
  if (missing.length) throw invalid(`line ${at + 1}: the header lacks ${missing.join(', ')} (it needs ${IMU_CHANNELS.join(', ')}, and timestamp in seconds unless the rate is given)`, { line: at + 1, missing });
  const tCol = header.indexOf('timestamp');
  const rows: number[][] = [];
  const times: number[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    if (rows.length === MAX_CSV_ROWS) throw invalid(`more than ${MAX_CSV_ROWS} samples: split the file`, { line: i + 1, max: MAX_CSV_ROWS });
    const cells = line.split(',');
    const num = (col: number, name: string): number => {
      const cell = cells[col]?.trim();
      const v = cell === undefined || cell === '' ? NaN : Number(cell);
      if (!Number.isFinite(v)) throw invalid(`line ${i + 1}, column ${name}: "${cell ?? ''}" is not a finite number`, { line: i + 1, column: name, value: cell ?? null });
      return v;
    };
    rows.push(columns.map((c, k) => num(c, IMU_CHANNELS[k]!)));
    if (tCol >= 0) times.push(num(tCol, 'timestamp'));
  }
  if (!rows.length) throw invalid('the CSV has a header but no samples', { line: at + 2 });
  let sampleRate = o.sampleRate;
  if (sampleRate === undefined) {
    if (tCol < 0) throw invalid('no timestamp column: give the sample rate', { column: 'timestamp' });
    if (times.length < 2) throw invalid('one sample is not enough to tell the sample rate: give it', { column: 'timestamp' });
    const steps = times.slice(1).map((t, k) => t - times[k]!).sort((a, b) => a - b);
    const median = steps[steps.length >> 1]!;
    if (!(median > 0)) throw invalid('timestamps must increase (seconds): their median step is not positive', { column: 'timestamp' });
    sampleRate = Math.round(1 / median);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 100_000) throw invalid(`sample rate ${sampleRate} Hz: expected a whole number of Hz from 1 to 100000`, { sampleRate });
  const count = rows.length;
  const samples = new Float32Array(6 * count);
  rows.forEach((r, i) => r.forEach((v, c) => (samples[c * count + i] = v)));
  return { sampleRate, count, samples };
}

/** CSV text of a series (timestamps from 0 s), whose values parse back to the same float32 values. */
export function formatImuCsv(s: ImuSeries): string {
  const out: string[] = [`timestamp,${IMU_CHANNELS.join(',')}`];
  for (let i = 0; i < s.count; i++) {
    let line = (i / s.sampleRate).toFixed(6);
    // A float32 widened to a double prints the shortest text that reads back to that double, and so to that float32.
    for (let c = 0; c < 6; c++) line += `,${s.samples[c * s.count + i]}`;
    out.push(line);
  }
  return `${out.join('\n')}\n`;
}
