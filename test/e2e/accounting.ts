// The accounting checker of the end-to-end runs: given what the edge agents sent (per sensor, the
// sequence numbers of their frames) and what came out of the pipeline (every (sensorId, seq) found
// in an output: the inference topic read with read_committed, the archive, a WebSocket client),
// it says whether each sent frame is reflected exactly once, and otherwise lists what is missing,
// duplicated or unexpected, by sensor and by seq range ("imu-3: 120–135, 200").

export interface Observed {
  sensorId: string;
  seq: number;
}

export interface SensorReport {
  sensorId: string;
  expected: number;
  seen: number;
  /** Seqs sent and never seen, as inclusive ranges. */
  missing: [number, number][];
  /** Seqs seen more than once: the ranges, and how many extra copies there were in all. */
  duplicated: [number, number][];
  extraCopies: number;
  /** Seqs seen that were never sent. */
  unexpected: [number, number][];
}

export interface AccountingReport {
  ok: boolean;
  sensors: number;
  expected: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  /** Only the sensors with a problem. */
  problems: SensorReport[];
}

/** Sorted distinct integers as inclusive ranges: [1,2,3,7] → [[1,3],[7,7]]. */
export function toRanges(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const n of sorted) {
    const last = out.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else if (!last || n > last[1]) out.push([n, n]);
  }
  return out;
}

export const formatRanges = (r: readonly [number, number][]) => r.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ');

/**
 * `sent`: per sensor, the seqs its agent sent (each once). `observed`: what an output holds, copies
 * included.
 */
export function account(sent: ReadonlyMap<string, Iterable<number>>, observed: Iterable<Observed>): AccountingReport {
  const seen = new Map<string, Map<number, number>>();
  for (const o of observed) {
    let m = seen.get(o.sensorId);
    if (!m) seen.set(o.sensorId, (m = new Map()));
    m.set(o.seq, (m.get(o.seq) ?? 0) + 1);
  }
  const problems: SensorReport[] = [];
  let expected = 0;
  let lost = 0;
  let duplicated = 0;
  let unexpected = 0;
  const ids = new Set([...sent.keys(), ...seen.keys()]);
  for (const sensorId of [...ids].sort()) {
    const want = new Set(sent.get(sensorId) ?? []);
    const got = seen.get(sensorId) ?? new Map<number, number>();
    const missing = [...want].filter((s) => !got.has(s)).sort((a, b) => a - b);
    const dups = [...got].filter(([, n]) => n > 1).sort((a, b) => a[0] - b[0]);
    const extra = [...got.keys()].filter((s) => !want.has(s)).sort((a, b) => a - b);
    const extraCopies = dups.reduce((n, [, c]) => n + c - 1, 0);
    expected += want.size;
    lost += missing.length;
    duplicated += extraCopies;
    unexpected += extra.length;
    if (missing.length || dups.length || extra.length) {
      problems.push({
        sensorId,
        expected: want.size,
        seen: [...got.values()].reduce((a, b) => a + b, 0),
        missing: toRanges(missing),
        duplicated: toRanges(dups.map(([s]) => s)),
        extraCopies,
        unexpected: toRanges(extra),
      });
    }
  }
  return { ok: problems.length === 0, sensors: ids.size, expected, lost, duplicated, unexpected, problems };
}

/** A report for people: one line for the whole, then one per sensor with a problem (at most `limit`). */
export function describeReport(name: string, r: AccountingReport, limit = 20): string {
  const head = `${name}: ${r.sensors} sensors, ${r.expected} frames sent; lost ${r.lost}, duplicated ${r.duplicated}, unexpected ${r.unexpected}`;
  const lines = r.problems.slice(0, limit).map((p) => {
    const parts = [
      p.missing.length ? `missing ${formatRanges(p.missing)}` : '',
      p.duplicated.length ? `duplicated ${formatRanges(p.duplicated)} (${p.extraCopies} extra)` : '',
      p.unexpected.length ? `never sent ${formatRanges(p.unexpected)}` : '',
    ].filter(Boolean);
    return `  ${p.sensorId}: ${parts.join('; ')}`;
  });
  if (r.problems.length > limit) lines.push(`  ... and ${r.problems.length - limit} more sensors`);
  return [head, ...lines].join('\n');
}
