// Simulated IMU sensors for the edge agent, the benchmarks and the model's training data: realistic
// 6-axis signals (ax ay az in m/s², gx gy gz in rad/s) of people moving through activities, with
// smooth transitions, gravity that follows the body's orientation, noise, slow sensor drift and
// occasional dropouts; ground-truth labels come alongside every sample. Deterministic for a seed.

import { GRAVITY, mulberry32 } from './imu-signal.js';

export const ACTIVITIES = ['idle', 'walking', 'running', 'jumping', 'fall'] as const;
export type SimActivity = (typeof ACTIVITIES)[number];

export interface SimulatorOptions {
  sensors: number;
  sampleRate: number;
  /** Sensors are spread round-robin over this many groups (a person, a machine, a site). */
  groups?: number;
  seed?: number;
  /** Relative weights of the activities a sensor moves to next (a fall only follows walking or running). */
  mix?: Partial<Record<SimActivity, number>>;
  /** The activity every sensor starts in (default: one drawn from `mix`). */
  start?: SimActivity;
  /** Mean seconds an activity lasts (exponential); a fall lasts 1.5 s. */
  meanDwellS?: number;
  /** Seconds over which one activity's motion blends into the next. */
  transitionS?: number;
  /** Standard deviation of the accelerometer noise, m/s² (the gyroscope gets a fifth of it in rad/s). */
  noise?: number;
  /** Random-walk drift of the sensor biases per √s (m/s² and rad/s). */
  drift?: number;
  /** Mean dropouts per sensor per hour, and their mean length in seconds. */
  dropoutsPerHour?: number;
  dropoutMeanS?: number;
  /** Sensor id prefix: ids are `${prefix}-${index}`. */
  prefix?: string;
}

export interface SimSensor {
  index: number;
  sensorId: string;
  group: string;
}

/** One step of every sensor: planar 6 x n samples, labels (ACTIVITIES index) and presence. */
export interface SimStep {
  n: number;
  samples: Float32Array[];
  labels: Uint8Array[];
  /** False while a sensor is in a dropout: it delivered nothing for this step. */
  present: boolean[];
}

interface Motion {
  stepHz: number;
  accel: number;
  gyro: number;
}

const MOTION: Record<Exclude<SimActivity, 'fall'>, Motion> = {
  idle: { stepHz: 0.25, accel: 0.05, gyro: 0.02 },
  walking: { stepHz: 1.9, accel: 2.5, gyro: 0.8 },
  running: { stepHz: 2.8, accel: 7.0, gyro: 2.2 },
  jumping: { stepHz: 1.4, accel: 0, gyro: 1.2 },
};

const FALL_S = 1.5;

/** Standard normal deviates, drawn by index for per-sample noise (one uniform draw instead of Box-Muller's two and a log). */
const NORMALS = (() => {
  const rand = mulberry32(0x5eed);
  return Float64Array.from({ length: 1 << 14 }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
})();

class SensorState {
  activity: SimActivity = 'idle';
  previous: SimActivity = 'idle';
  since = 0; // seconds in the current activity
  dwell = 0;
  phase: number;
  /** 0 upright, π/2 lying: where gravity points. */
  tilt = 0;
  tiltTarget = 0;
  bias = [0, 0, 0, 0, 0, 0];
  dropoutLeft = 0;
  constructor(readonly rand: () => number) {
    this.phase = rand() * 2 * Math.PI;
  }
  gauss(): number {
    return NORMALS[(this.rand() * NORMALS.length) | 0]!;
  }
}

export class Simulator {
  readonly sensors: readonly SimSensor[];
  readonly options: Required<Omit<SimulatorOptions, 'mix' | 'start'>> & { mix: Record<SimActivity, number>; start?: SimActivity };
  private readonly states: SensorState[];
  private readonly buffers: { samples: Float32Array; labels: Uint8Array }[];
  private t = 0;

  constructor(options: SimulatorOptions) {
    this.options = {
      groups: 1, seed: 1, meanDwellS: 20, transitionS: 1, noise: 0.03, drift: 0.002, dropoutsPerHour: 2, dropoutMeanS: 2, prefix: 'imu',
      ...options,
      mix: { idle: 3, walking: 4, running: 2, jumping: 1, fall: 0.3, ...options.mix },
    };
    const { sensors, groups, seed, prefix } = this.options;
    this.sensors = Array.from({ length: sensors }, (_, index) => ({ index, sensorId: `${prefix}-${index}`, group: `group-${index % groups}` }));
    this.states = this.sensors.map((s) => {
      const st = new SensorState(mulberry32((seed * 0x9e3779b1) ^ (s.index * 0x85ebca6b)));
      st.activity = this.options.start ?? this.pick(st, 'idle');
      st.previous = st.activity;
      st.since = this.options.transitionS; // start fully in the first activity
      st.dwell = this.dwellOf(st);
      return st;
    });
    this.buffers = [];
  }

  /** Seconds simulated so far. */
  get seconds(): number {
    return this.t / this.options.sampleRate;
  }

  private pick(st: SensorState, from: SimActivity): SimActivity {
    const mix = this.options.mix;
    const allowed = ACTIVITIES.filter((a) => a !== from && (a !== 'fall' || from === 'walking' || from === 'running'));
    const total = allowed.reduce((s, a) => s + mix[a], 0);
    let r = st.rand() * total;
    for (const a of allowed) if ((r -= mix[a]) < 0) return a;
    return allowed.at(-1)!;
  }

  private dwellOf(st: SensorState): number {
    return st.activity === 'fall' ? FALL_S : -Math.log(1 - st.rand()) * this.options.meanDwellS + this.options.transitionS;
  }

  /**
   * The next `n` samples of every sensor. Buffers are reused: copy what you keep before the next call.
   */
  next(n: number): SimStep {
    const { sampleRate, dropoutsPerHour, dropoutMeanS } = this.options;
    while (this.buffers.length < this.sensors.length) this.buffers.push({ samples: new Float32Array(0), labels: new Uint8Array(0) });
    const step: SimStep = { n, samples: [], labels: [], present: [] };
    const dt = n / sampleRate;
    this.states.forEach((st, i) => {
      const buf = this.buffers[i]!;
      if (buf.samples.length !== 6 * n) {
        buf.samples = new Float32Array(6 * n);
        buf.labels = new Uint8Array(n);
      }
      if (st.dropoutLeft <= 0 && st.rand() < (dropoutsPerHour / 3600) * dt) st.dropoutLeft = -Math.log(1 - st.rand()) * dropoutMeanS;
      // Signals go on during a dropout (the person keeps moving); the sensor just delivers nothing.
      this.generate(st, n, buf.samples, buf.labels);
      const present = st.dropoutLeft <= 0;
      if (!present) st.dropoutLeft -= dt;
      step.samples.push(buf.samples);
      step.labels.push(buf.labels);
      step.present.push(present);
    });
    this.t += n;
    return step;
  }

  private generate(st: SensorState, n: number, out: Float32Array, labels: Uint8Array): void {
    const { sampleRate, transitionS, noise, drift } = this.options;
    const dt = 1 / sampleRate;
    // Bias random walk, one step per call.
    const driftStep = drift * Math.sqrt(n * dt);
    for (let c = 0; c < 6; c++) st.bias[c]! += driftStep * st.gauss() * (c < 3 ? 1 : 0.2);
    const gyroNoise = noise * 0.2;
    for (let i = 0; i < n; i++) {
      if (st.since >= st.dwell) {
        st.previous = st.activity;
        st.activity = this.pick(st, st.activity);
        st.since = 0;
        st.dwell = this.dwellOf(st);
        // Lying after a fall until the next activity that is not idle gets the body up again.
        st.tiltTarget = st.activity === 'idle' && st.previous === 'fall' ? Math.PI / 2 : st.activity === 'idle' ? st.tiltTarget : 0;
      }
      const time = (this.t + i) * dt;
      // A fall is abrupt; everything else blends in over transitionS.
      const blend = st.activity === 'fall' ? 1 : Math.min(1, st.since / transitionS);
      const cur = this.motion(st, st.activity, time, st.since);
      const prev = blend < 1 ? this.motion(st, st.previous, time, st.since + FALL_S) : cur;
      if (st.activity === 'fall') st.tilt = Math.min(Math.PI / 2, (st.since / 0.4) * (Math.PI / 2));
      else st.tilt += Math.sign(st.tiltTarget - st.tilt) * Math.min(Math.abs(st.tiltTarget - st.tilt), dt * 1.5);
      // In free fall the accelerometer reads less than gravity.
      const g = st.activity === 'fall' && st.since < 0.35 ? GRAVITY * (1 - (0.85 * st.since) / 0.35) : GRAVITY;
      const b = st.bias;
      const gx = g * Math.sin(st.tilt);
      const gz = g * Math.cos(st.tilt);
      const k = 1 - blend;
      out[i] = blend * cur[0]! + k * prev[0]! + gx + b[0]! + noise * st.gauss();
      out[n + i] = blend * cur[1]! + k * prev[1]! + b[1]! + noise * st.gauss();
      out[2 * n + i] = blend * cur[2]! + k * prev[2]! + gz + b[2]! + noise * st.gauss();
      out[3 * n + i] = blend * cur[3]! + k * prev[3]! + b[3]! + gyroNoise * st.gauss();
      out[4 * n + i] = blend * cur[4]! + k * prev[4]! + b[4]! + gyroNoise * st.gauss();
      out[5 * n + i] = blend * cur[5]! + k * prev[5]! + b[5]! + gyroNoise * st.gauss();
      labels[i] = ACTIVITIES.indexOf(st.activity);
      st.since += dt;
    }
  }

  /** Body acceleration and rotation of an activity at a time (gravity added by the caller). */
  private motion(st: SensorState, activity: SimActivity, t: number, since: number): number[] {
    if (activity === 'fall') {
      // A tumble, then the impact about 0.4 s in: several g for a few tens of milliseconds.
      const impact = 5 * GRAVITY * Math.exp(-(((since - 0.4) / 0.025) ** 2));
      const spin = since < 0.45 ? 3 * Math.sin((Math.PI * since) / 0.45) : 0;
      return [0.6 * impact, 0.3 * impact * Math.sin(st.phase), 0.8 * impact, 0.4 * spin, spin, 0.2 * spin];
    }
    const { stepHz, accel, gyro } = MOTION[activity];
    const w = 2 * Math.PI * stepHz;
    if (activity === 'jumping') {
      // Take-off push, about 0.35 s of flight (the accelerometer reads near zero), a landing spike.
      const u = (t * stepHz + st.phase / (2 * Math.PI)) % 1;
      const flight = u < 0.5 ? -GRAVITY * 0.9 : 0;
      const landing = 3 * GRAVITY * Math.exp(-(((u - 0.5) / 0.03) ** 2));
      const push = 1.5 * GRAVITY * Math.exp(-(((u - 0.95) / 0.04) ** 2));
      return [0.5 * Math.sin(w * t), 0.3 * Math.cos(w * t), flight + landing + push, gyro * Math.sin(w * t + st.phase), 0.3 * gyro * Math.cos(w * t), 0.1 * gyro * Math.sin(2 * w * t)];
    }
    const step = Math.sin(w * t + st.phase);
    const sway = Math.sin(0.5 * w * t + st.phase);
    return [
      0.3 * accel * sway,
      0.2 * accel * Math.cos(w * t),
      accel * Math.abs(step) - (accel * 2) / Math.PI,
      gyro * Math.cos(w * t + st.phase),
      0.5 * gyro * sway,
      0.2 * gyro * step,
    ];
  }
}
