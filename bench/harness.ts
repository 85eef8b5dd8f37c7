// Tiny benchmark harness: runs each case for a time budget after a warm-up, reports ops/s and the
// ratio to the run's baseline case, as a table (default) or one JSON object (--json).

export interface BenchCase {
  name: string;
  /** Items (frames, samples, ...) one call processes, for the throughput column. */
  items: number;
  run: () => unknown;
}

export interface BenchResult {
  name: string;
  opsPerSec: number;
  itemsPerSec: number;
  ratioToBaseline: number;
}

let sink: unknown;

function measure(c: BenchCase, ms: number): number {
  for (const end = performance.now() + ms / 4; performance.now() < end; ) sink = c.run();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) sink = c.run();
    ops += 16;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export function bench(title: string, unit: string, baseline: BenchCase, cases: BenchCase[], ms = Number(process.env.EW_BENCH_MS ?? 1000)): BenchResult[] {
  const base = measure(baseline, ms);
  const results: BenchResult[] = [
    { name: baseline.name, opsPerSec: base, itemsPerSec: base * baseline.items, ratioToBaseline: 1 },
    ...cases.map((c) => {
      const ops = measure(c, ms);
      return { name: c.name, opsPerSec: ops, itemsPerSec: ops * c.items, ratioToBaseline: (ops * c.items) / (base * baseline.items) };
    }),
  ];
  if (!process.argv.includes('--json')) {
    console.log(`\n${title}  (baseline: ${baseline.name})`);
    console.log(`${'case'.padEnd(44)} ${'ops/s'.padStart(12)} ${`${unit}/s`.padStart(14)} ${'x baseline'.padStart(11)}`);
    for (const r of results) {
      console.log(`${r.name.padEnd(44)} ${r.opsPerSec.toFixed(0).padStart(12)} ${r.itemsPerSec.toExponential(3).padStart(14)} ${r.ratioToBaseline.toFixed(2).padStart(11)}`);
    }
  }
  void sink;
  return results;
}
