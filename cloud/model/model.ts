// The activity model behind the processor's stateful inference. The ONNX contract:
//   inputs   features [batch, F] float32   state [batch, H] float32
//   outputs  scores   [batch, C] float32   next_state [batch, H] float32
// Names and sizes are read from the model and checked when it is loaded, against the feature
// layout it will be fed (F must be the layout's width; when the model names its layout, the ids and
// feature names must match too). Runs on onnxruntime-node when it is installed (faster, native),
// else on onnxruntime-web (WebAssembly); both give the same results to float32 rounding.
//
// On onnxruntime-node a run is made in the calling thread, at once: its public run() makes the
// same native call, in the thread that calls it too, but only after a setImmediate, so each run waited
// a turn of the event loop for about 0.05 ms of work. In the processor, a window burst's runs (one per
// partition, one after another) so waited for the Kafka fetches and produce requests in between:
// 3.6 ms a batch at the median and 17 ms at the 99th percentile, with 1,000 raw sensors in bench:e2e.
// The native session comes from onnxruntime-node's own binding, which its public session wraps;
// should a version not have it as expected, the public run() is used (`ActivityModel.direct` says).

import { EdgewaveError, type ErrorOptions } from '../../protocol/errors.js';
import { onnxMetadata } from './onnx-metadata.js';

export const MODEL_ERROR_CODES = {
  EW_MODEL_LOAD: 'the model file cannot be read or is not an ONNX model onnxruntime can load',
  EW_MODEL_CONTRACT: 'the model does not have the inputs and outputs edgewave runs (features, state → scores, next_state) or does not fit the feature layout',
  EW_MODEL_INPUT: 'samples given to the lab (IMU CSV) cannot be read: details name the line and column',
} as const;

export type ModelErrorCode = keyof typeof MODEL_ERROR_CODES;

export class ModelError extends EdgewaveError {
  declare readonly code: ModelErrorCode;
  constructor(code: ModelErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

export interface ModelInfo {
  /** F: features per window. */
  features: number;
  /** H: state per sensor. */
  state: number;
  /** C: one score per class. */
  classes: string[];
  /** What the model says of itself (written by cloud/model/train.py), when it does. */
  layoutId?: number;
  featureNames?: string[];
  heldoutAccuracy?: number;
}

export interface LayoutLike {
  id: number;
  width: number;
  features: readonly { name: string }[];
}

export type Backend = 'onnxruntime-node' | 'onnxruntime-web';

interface OrtTensor {
  data: unknown;
}
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata?: readonly { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] }[];
  outputMetadata?: readonly { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] }[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
/** onnxruntime-node's native session (its binding's InferenceSession): the same run, returned at once. */
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}
interface NativeBinding {
  initOrt?: () => void;
  binding?: { InferenceSession?: new () => NativeSession };
}

/** A native session of the model, or null when this onnxruntime-node does not offer one as expected. */
async function nativeSession(bytes: Uint8Array, options: object): Promise<NativeSession | null> {
  try {
    const { createRequire } = (await import(/* @vite-ignore */ NODE_MODULE)) as typeof import('node:module');
    const b = createRequire(import.meta.url)(`${NODE_RUNTIME}/dist/binding`) as NativeBinding;
    const Session = b.binding?.InferenceSession;
    if (typeof b.initOrt !== 'function' || typeof Session !== 'function' || typeof Session.prototype.run !== 'function') return null;
    b.initOrt();
    const session = new Session();
    session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options);
    return session;
  } catch {
    return null;
  }
}

/** The part of an onnxruntime module the model uses (a browser passes the one it bundles). */
export interface Ort {
  InferenceSession: { create(bytes: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  env: { wasm: { numThreads?: number } };
}

// Imported by name at run time, so bundlers for the browser (which passes its own runtime) leave them be.
const NODE_RUNTIME = 'onnxruntime-node';
const NODE_MODULE = 'node:module';
const WEB_RUNTIME = 'onnxruntime-web';

async function runtime(backend: 'auto' | 'node' | 'web'): Promise<{ ort: Ort; name: Backend }> {
  if (backend !== 'web') {
    try {
      return { ort: (await import(/* @vite-ignore */ NODE_RUNTIME)) as unknown as Ort, name: 'onnxruntime-node' };
    } catch (err) {
      if (backend === 'node') throw new ModelError('EW_MODEL_LOAD', `onnxruntime-node is not available: ${(err as Error).message}`, { cause: err });
    }
  }
  const ort = (await import(/* @vite-ignore */ WEB_RUNTIME)) as unknown as Ort;
  // One thread: the processor batches across sensors and runs one core per replica.
  ort.env.wasm.numThreads = 1;
  return { ort, name: 'onnxruntime-web' };
}

const FETCHES = { scores: null, next_state: null };

export class ActivityModel {
  private constructor(
    readonly info: ModelInfo,
    readonly backend: Backend,
    private readonly ort: Ort,
    private readonly session: OrtSession,
    private readonly native: NativeSession | null,
  ) {}

  /** Runs are made at once, in the calling thread (onnxruntime-node's native session), not a turn of the event loop later. */
  get direct(): boolean {
    return this.native !== null;
  }

  /**
   * Loads a model and checks it against the layout it will be fed. Errors: EW_MODEL_LOAD,
   * EW_MODEL_CONTRACT (naming what is expected and what the model has).
   */
  static async load(bytes: Uint8Array, options: { layout?: LayoutLike; backend?: 'auto' | 'node' | 'web'; ort?: Ort } = {}): Promise<ActivityModel> {
    let meta: Map<string, string>;
    try {
      meta = onnxMetadata(bytes);
    } catch (err) {
      throw new ModelError('EW_MODEL_LOAD', `not an ONNX model: ${(err as Error).message}`, { cause: err });
    }
    const { ort, name } = options.ort ? { ort: options.ort, name: 'onnxruntime-web' as const } : await runtime(options.backend ?? 'auto');
    let session: OrtSession;
    // One thread: a run is a few hundred microseconds at most, and on a shared machine a second
    // thread only makes each run wait for whichever of the two is scheduled last.
    const sessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 };
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions);
    } catch (err) {
      throw new ModelError('EW_MODEL_LOAD', `onnxruntime cannot load the model: ${(err as Error).message}`, { cause: err });
    }
    try {
      const info = checkContract(session, meta, options.layout);
      const native = name === 'onnxruntime-node' && !options.ort ? await nativeSession(bytes, sessionOptions) : null;
      return new ActivityModel(info, name, ort, session, native);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** One step for `batch` sensors: features (batch x F) and their states (batch x H) → scores (batch x C), next states. */
  async run(features: Float32Array, state: Float32Array, batch: number): Promise<{ scores: Float32Array; nextState: Float32Array }> {
    const { features: f, state: h } = this.info;
    if (features.length !== batch * f || state.length !== batch * h) {
      throw new ModelError('EW_MODEL_CONTRACT', `run: expected ${batch} x ${f} features and ${batch} x ${h} state values, got ${features.length} and ${state.length}`);
    }
    const feeds = { features: new this.ort.Tensor('float32', features, [batch, f]), state: new this.ort.Tensor('float32', state, [batch, h]) };
    if (this.native) {
      const out = this.native.run(feeds, FETCHES, {});
      return { scores: out.scores!.data as Float32Array, nextState: out.next_state!.data as Float32Array };
    }
    // One run at a time: callers (the processor's partitions) may overlap, and not every backend
    // takes concurrent runs of one session.
    const run = this.queue.then(() => this.session.run(feeds));
    this.queue = run.then(() => {}, () => {});
    const out = await run;
    return { scores: out.scores!.data as Float32Array, nextState: out.next_state!.data as Float32Array };
  }

  private queue: Promise<void> = Promise.resolve();

  close(): Promise<void> {
    this.native?.dispose();
    return this.session.release();
  }
}

function checkContract(session: OrtSession, meta: Map<string, string>, layout: LayoutLike | undefined): ModelInfo {
  const want = (have: readonly string[], names: string[], what: string) => {
    if (have.length !== names.length || names.some((n) => !have.includes(n))) {
      throw new ModelError('EW_MODEL_CONTRACT', `model ${what} are [${have.join(', ')}]; edgewave runs models with ${what} [${names.join(', ')}]`, { details: { [what]: have } });
    }
  };
  want(session.inputNames, ['features', 'state'], 'inputs');
  want(session.outputNames, ['scores', 'next_state'], 'outputs');
  const shape = (list: OrtSession['inputMetadata'], n: string): readonly (number | string)[] => {
    const m = list?.find((x) => x.name === n);
    if (!m?.shape || m.shape.length !== 2) throw new ModelError('EW_MODEL_CONTRACT', `model ${n} must be a 2-D float32 tensor [batch, size], is ${m?.shape ? `[${m.shape.join(', ')}]` : 'of unknown shape'}`);
    if (m.type && m.type !== 'float32') throw new ModelError('EW_MODEL_CONTRACT', `model ${n} must be float32, is ${m.type}`);
    return m.shape;
  };
  const size = (s: readonly (number | string)[], n: string): number => {
    if (typeof s[1] !== 'number') throw new ModelError('EW_MODEL_CONTRACT', `model ${n} must have a fixed size in its second dimension, has "${s[1]}"`);
    return s[1];
  };
  const f = size(shape(session.inputMetadata, 'features'), 'features');
  const h = size(shape(session.inputMetadata, 'state'), 'state');
  const c = size(shape(session.outputMetadata, 'scores'), 'scores');
  const h2 = size(shape(session.outputMetadata, 'next_state'), 'next_state');
  if (h2 !== h) throw new ModelError('EW_MODEL_CONTRACT', `model state has ${h} values per sensor but next_state has ${h2}`);
  const json = <T>(k: string): T | undefined => {
    const v = meta.get(k);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  };
  const classes = json<string[]>('edgewave.classes') ?? Array.from({ length: c }, (_, i) => `class_${i}`);
  if (classes.length !== c) throw new ModelError('EW_MODEL_CONTRACT', `model scores have ${c} classes but its metadata names ${classes.length}`);
  const info: ModelInfo = { features: f, state: h, classes };
  const layoutId = meta.get('edgewave.layout_id');
  if (layoutId !== undefined) info.layoutId = Number(layoutId);
  const names = json<string[]>('edgewave.features');
  if (names) info.featureNames = names;
  const acc = meta.get('edgewave.heldout_accuracy');
  if (acc !== undefined) info.heldoutAccuracy = Number(acc);
  if (layout) {
    const hex = (id: number) => `0x${id.toString(16).padStart(8, '0')}`;
    if (f !== layout.width) {
      throw new ModelError('EW_MODEL_CONTRACT', `model input features has ${f} values per window, but the feature layout ${hex(layout.id)} has ${layout.width} features`, { details: { modelFeatures: f, layoutFeatures: layout.width, layoutId: layout.id } });
    }
    if (info.layoutId !== undefined && info.layoutId !== layout.id) {
      throw new ModelError('EW_MODEL_CONTRACT', `model was trained on feature layout ${hex(info.layoutId)}, but it would be fed layout ${hex(layout.id)}`, { details: { modelLayout: info.layoutId, layout: layout.id } });
    }
    if (names && names.some((n, i) => n !== layout.features[i]?.name)) {
      const i = names.findIndex((n, k) => n !== layout.features[k]?.name);
      throw new ModelError('EW_MODEL_CONTRACT', `model feature ${i} is ${names[i]}, the layout's is ${layout.features[i]?.name}`);
    }
  }
  return info;
}
