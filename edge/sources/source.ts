// What every sample source gets from the agent, and gives back.

import type { Logger } from 'pino';
import type { EdgeMetrics } from '../metrics.js';

export interface SourceContext {
  /** Announces a sensor (once; later calls with the same id are ignored). */
  register(sensor: { sensorId: string; group: string; sampleRate: number }): void;
  /** Planar 6 x n samples of a registered sensor, the first taken at t0Us; gap: samples were lost before. */
  add(sensorId: string, samples: Float32Array, t0Us: number, gap: boolean): void;
  /** Counts an input that was refused, by reason code, and logs it (rate-limited). */
  reject(source: string, code: string, message: string): void;
  metrics: EdgeMetrics;
  log: Logger;
}

export interface RunningSource {
  /** Resolves when a finite source (a CSV file replayed once) has delivered everything. */
  readonly done: Promise<void>;
  /**
   * A timed source delivers every sample due now (the agent calls it just before each flush); with
   * sensor ids, those sensors' alone where the source can (the others wait for the next poll).
   */
  poll?(sensorIds?: Iterable<string>): void;
  stop(): Promise<void>;
}
