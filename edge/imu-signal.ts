// Deterministic 6-axis IMU signals (ax ay az in m/s², gx gy gz in rad/s) for simulated sensors:
// gravity plus an activity's periodic motion plus noise, reproducible for a seed.

export const GRAVITY = 9.80665;

export type Activity = 'idle' | 'walking' | 'running';

/** Step frequency (Hz) and body-acceleration amplitude (m/s²) of each activity. */
const ACTIVITY: Record<Activity, { stepHz: number; accel: number; gyro: number }> = {
  idle: { stepHz: 0.25, accel: 0.05, gyro: 0.02 },
  walking: { stepHz: 1.9, accel: 2.5, gyro: 0.8 },
  running: { stepHz: 2.8, accel: 7.0, gyro: 2.2 },
};

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ImuSignal {
  private readonly rand: () => number;
  private readonly phase: number;
  private sample = 0;

  constructor(
    readonly sampleRate: number,
    public activity: Activity,
    seed: number,
    readonly noise = 0.03,
  ) {
    this.rand = mulberry32(seed);
    this.phase = this.rand() * 2 * Math.PI;
  }

  /** Gaussian noise by Box-Muller. */
  private gauss(): number {
    const u = 1 - this.rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rand());
  }

  /** Fills `out` (planar: 6 channels of `n` samples) with the next `n` samples. */
  next(n: number, out = new Float32Array(6 * n)): Float32Array {
    const { stepHz, accel, gyro } = ACTIVITY[this.activity];
    const w = 2 * Math.PI * stepHz;
    for (let i = 0; i < n; i++) {
      const t = (this.sample + i) / this.sampleRate;
      const step = Math.sin(w * t + this.phase);
      const sway = Math.sin(0.5 * w * t + this.phase);
      out[i] = 0.3 * accel * sway + this.noise * this.gauss();
      out[n + i] = 0.2 * accel * Math.cos(w * t) + this.noise * this.gauss();
      out[2 * n + i] = GRAVITY + accel * Math.abs(step) - (accel * 2) / Math.PI + this.noise * this.gauss();
      out[3 * n + i] = gyro * Math.cos(w * t + this.phase) + 0.2 * this.noise * this.gauss();
      out[4 * n + i] = 0.5 * gyro * sway + 0.2 * this.noise * this.gauss();
      out[5 * n + i] = 0.2 * gyro * step + 0.2 * this.noise * this.gauss();
    }
    this.sample += n;
    return out;
  }
}
