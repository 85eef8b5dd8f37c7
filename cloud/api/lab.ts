// The kernel lab's server side: the features and classes the pipeline's own code (dsp/ kernels in
// Node, the activity model on onnxruntime) gives for IMU CSV a browser sends, so the page can show
// that its WebAssembly run gives the same; and the model file, so the page runs the same model.

import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { loadDsp } from '../../dsp/src/index.js';
import { parseImuCsv } from '../model/imu-csv.js';
import { ActivityModel, ModelError } from '../model/model.js';
import { analyzeSeries } from '../model/series.js';
import { f32ToBase64 } from '../processor/engine.js';
import { ApiError } from './errors.js';

/** The largest CSV body the lab takes (a million rows of seven columns fit). */
const MAX_BODY = 64 * 1024 * 1024;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]));

export function registerLabRoutes(app: FastifyInstance, modelPath: string): void {
  let model: Promise<{ bytes: Buffer; model: ActivityModel }> | null = null;
  const loadModel = () => {
    model ??= (async () => {
      const bytes = await readFile(modelPath);
      return { bytes, model: await ActivityModel.load(new Uint8Array(bytes)) };
    })().catch((err: unknown) => {
      model = null;
      throw new ApiError('EW_API_UNAVAILABLE', `the lab's model ${modelPath} cannot be loaded: ${(err as Error).message}`, { details: { dependency: 'model' } });
    });
    return model;
  };
  app.addHook('onClose', async () => {
    const m = await model?.catch(() => null);
    await m?.model.close();
  });

  app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: MAX_BODY }, (_req, body, done) => done(null, body));

  app.post('/lab/analyze', {
    bodyLimit: MAX_BODY,
    config: { scope: 'read' },
    schema: {
      summary: 'Features and classes of one sensor\'s IMU CSV, computed by the pipeline\'s kernels and model',
      description: 'The body is CSV text (`timestamp,ax,ay,az,gx,gy,gz`, timestamp in seconds; or no timestamp and `?rate=`). The samples are cut into windows of the `uplink` preset and each window is classified in order, the model state carried from window to window, exactly as the processor does for a sensor\'s raw frames. Features and scores are base64 of little-endian float32 values.',
      tags: ['lab'],
      querystring: { type: 'object', additionalProperties: false, properties: { rate: { type: 'integer', minimum: 1, maximum: 100000, description: 'samples per second, when the CSV has no timestamp column' } } },
      body: { type: 'string', description: 'IMU CSV' },
      response: {
        200: {
          type: 'object',
          required: ['sampleRate', 'window', 'hop', 'layoutId', 'names', 'windows', 'starts', 'features', 'simd', 'backend'],
          properties: {
            sampleRate: { type: 'integer' },
            window: { type: 'integer' },
            hop: { type: 'integer' },
            layoutId: { type: 'integer' },
            names: { type: 'array', items: { type: 'string' } },
            windows: { type: 'integer' },
            starts: { type: 'array', items: { type: 'integer' }, description: 'index of each window\'s first sample' },
            features: { type: 'string', description: 'windows x names.length float32, base64' },
            classes: { type: 'array', items: { type: 'string' } },
            labels: { type: 'array', items: { type: 'string' }, description: 'each window\'s class' },
            scores: { type: 'string', description: 'windows x classes.length float32, base64' },
            simd: { type: 'boolean', description: 'whether the SIMD build of dsp.wasm ran' },
            backend: { type: 'string', description: 'the onnxruntime that ran the model' },
          },
        },
        ...errors(400, 401, 403, 413, 503),
      },
    },
  }, async (req) => {
    const { rate } = req.query as { rate?: number };
    let series;
    try {
      series = parseImuCsv(req.body as string, rate === undefined ? {} : { sampleRate: rate });
    } catch (err) {
      if (err instanceof ModelError) throw new ApiError('EW_API_INVALID', `body: ${err.message}`, { details: { errors: [{ field: 'body', message: err.message }], ...err.details } });
      throw err;
    }
    const [dsp, m] = await Promise.all([loadDsp(), loadModel()]);
    const a = await analyzeSeries(series, { dsp, model: m.model });
    return {
      ...a,
      features: f32ToBase64(a.features),
      ...(a.scores ? { scores: f32ToBase64(a.scores) } : {}),
      simd: dsp.simd,
      backend: m.model.backend,
    };
  });

  app.get('/lab/model.onnx', {
    config: { scope: 'read' },
    schema: {
      summary: 'The ONNX model the lab classifies with, for the page to run the same one',
      tags: ['lab'],
      response: { 200: { type: 'string', format: 'binary', description: 'application/octet-stream' }, ...errors(401, 403, 503) },
    },
  }, async (_req, reply) => {
    const { bytes } = await loadModel();
    return reply.type('application/octet-stream').header('cache-control', 'no-cache').send(bytes);
  });
}
