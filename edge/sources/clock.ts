// The clock of the timed sources (simulator, synthetic): on every tick, the samples that are due
// since the start, at most a second per step, with the time of each step's first sample.

export function startClock(rate: number, tickMs: number, step: (n: number, t0Us: number) => void): () => void {
  const startMs = Date.now();
  let produced = 0;
  const tick = () => {
    const due = Math.floor(((Date.now() - startMs) * rate) / 1000);
    while (produced < due) {
      const n = Math.min(due - produced, rate);
      step(n, Math.round(startMs * 1000 + (produced * 1e6) / rate));
      produced += n;
    }
  };
  const timer = setInterval(tick, Math.max(5, Math.floor(tickMs / 2)));
  return () => clearInterval(timer);
}
