// The simulator source's clock (the synthetic source keeps one per sensor, so that it can be polled
// for some sensors alone): the samples that are due since the start, at most a second per step,
// with the time of each step's first sample. The agent polls it just before each flush, so a flush
// carries every sample due by then (a sensor streaming samples as it takes them gets there the
// same way); its own timer steps in only when nobody has polled for a tick, as for a source running
// on its own.

export interface Clock {
  /** Delivers every sample due now. */
  poll(): void;
  stop(): void;
}

export function startClock(rate: number, tickMs: number, step: (n: number, t0Us: number) => void): Clock {
  const startMs = Date.now();
  let produced = 0;
  let polledAt = -Infinity;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    // Sample i is taken at startMs + i / rate: every one taken by now.
    const due = Math.floor(((Date.now() - startMs) * rate) / 1000) + 1;
    while (produced < due) {
      const n = Math.min(due - produced, rate);
      step(n, Math.round(startMs * 1000 + (produced * 1e6) / rate));
      produced += n;
    }
  };
  const timer = setInterval(() => {
    if (performance.now() - polledAt >= tickMs) tick();
  }, Math.max(5, Math.floor(tickMs / 2)));
  return {
    poll() {
      polledAt = performance.now();
      tick();
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
