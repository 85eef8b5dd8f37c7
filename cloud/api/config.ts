// The API's configuration: one schema that fills defaults, rejects unknown keys and names the bad
// field and what it expects. YAML or JSON files, then EW_API_* environment overrides.

import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SHIPPED_MODEL } from '../model/shipped.js';
import { applyEnv, logLevelSchema, parseConfig, type DeepReadonly } from '../../protocol/index.js';
import { kafkaConnection } from '../common/kafka.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest of the key (edgewave api hash-key prints one)');
export const scopeSchema = z.enum(['read', 'admin']);
export const apiKeySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . -').describe('a name for the key: logs and rate limits use it, never the key'),
  sha256,
  scopes: z.array(scopeSchema).min(1).describe('read: every GET route and WebSocket; admin: also the admin routes'),
});

const mongodbSchema = z.strictObject({
  url: z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// URL'),
  database: z.string().min(1).default('edgewave'),
  collection: z.string().min(1).default('sessions'),
});

/** The web app `npm run build` makes: dist/web, from the sources or from the compiled tree. */
export const BUILT_WEB_APP = fileURLToPath(new URL(import.meta.url.includes('/dist/cloud/') ? '../../web/' : '../../dist/web/', import.meta.url));

export const apiConfigSchema = z.strictObject({
  http: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8080).describe('REST, WebSocket, /docs and /metrics; 0 picks a free port'),
  }).default({ host: '127.0.0.1', port: 8080 }),
  mongodb: mongodbSchema.optional().describe('where the sessions are; required by `edgewave api` (the embedded mode keeps them in a file under ./data/)'),
  kafka: z.strictObject({
    ...kafkaConnection,
    clientId: z.string().min(1).default('edgewave-api'),
    groupPrefix: z.string().min(1).default('edgewave-api').describe('each replica reads every partition in a group of its own: <prefix>-<host>-<random>'),
    topics: z.strictObject({
      inferences: z.string().default('edgewave.inferences'),
      sessions: z.string().default('edgewave.sessions'),
      status: z.string().default('edgewave.status'),
    }).default({ inferences: 'edgewave.inferences', sessions: 'edgewave.sessions', status: 'edgewave.status' }),
  }).optional().describe('the processor\'s output topics, for the WebSocket fan-out and /ready; without it, no /ws'),
  live: z.strictObject({
    highWaterBytes: z.number().int().min(1024).default(1 << 20).describe('a client with more than this unsent has its messages queued'),
    maxQueue: z.number().int().min(1).default(2000).describe('messages queued per client; beyond it the oldest are dropped, and the client told how many'),
    closeAfterMs: z.number().int().min(100).default(30_000).describe('a client whose queue stays full this long is closed with code 4008'),
    heartbeatMs: z.number().int().min(100).default(15_000).describe('ping interval; a client that misses two pongs is dropped'),
    lookbackS: z.number().int().min(0).default(120).describe('at start, inferences and session events from this long ago are read back, so late joiners and /sensors have the current state at once (gateway statuses are read from the start of their topic)'),
    readUncommitted: z.boolean().default(true).describe('inferences go out as soon as the processor writes them, before its transaction commits, each window once (one written again after an aborted transaction is recognised by sensor, seq and start); false: only committed ones, up to the processor\'s commit interval later. Session events and statuses are always read committed'),
  }).default({ highWaterBytes: 1 << 20, maxQueue: 2000, closeAfterMs: 30_000, heartbeatMs: 15_000, lookbackS: 120, readUncommitted: true }),
  auth: z.strictObject({
    keys: z.array(apiKeySchema).default([]).describe('API keys, stored as SHA-256 digests'),
    keysFile: z.string().optional().describe('a YAML or JSON file with more keys: a list of { id, sha256, scopes }'),
    keysDir: z.string().optional().describe('a directory of key files, one per key, named by id, holding "<scope>[,<scope>]:<sha256>" (a Kubernetes secret mount)'),
    open: z.boolean().default(false).describe('no keys needed at all (development only)'),
    ratePerMinute: z.number().int().min(1).default(6000).describe('requests per key per minute'),
  }).default({ keys: [], open: false, ratePerMinute: 6000 }),
  rest: z.strictObject({
    cacheMs: z.number().int().min(0).default(1000).describe('/sessions pages and /sessions/:id answers are shared for this long: identical requests within it (and those arriving while one is read) cost one MongoDB query; 0: every request reads MongoDB'),
    cacheMaxMb: z.number().min(1).default(64).describe('the most memory those shared answers take; the least recently used go first'),
  }).default({ cacheMs: 1000, cacheMaxMb: 64 }),
  cors: z.strictObject({
    origins: z.array(z.string()).default([]).describe('origins allowed to call the API from a browser (e.g. http://localhost:5173); [] allows none'),
  }).default({ origins: [] }),
  web: z.strictObject({
    root: z.string().min(1).nullable().default(BUILT_WEB_APP).describe('the built web app, served at / to browsers (default: dist/web, which `npm run build` makes); null: no app'),
    lab: z.boolean().default(true).describe('the kernel lab\'s server side: POST /lab/analyze (features and classes of IMU CSV) and GET /lab/model.onnx'),
    model: z.string().min(1).default(SHIPPED_MODEL).describe('the ONNX model the lab classifies with and hands to browsers (default: the shipped activity model)'),
  }).default({ root: BUILT_WEB_APP, lab: true, model: SHIPPED_MODEL }),
  logLevel: logLevelSchema,
});

export type ApiConfig = DeepReadonly<z.output<typeof apiConfigSchema>>;
export type ApiConfigInput = z.input<typeof apiConfigSchema>;
export type ApiKey = z.output<typeof apiKeySchema>;

export function parseApiConfig(input: unknown): ApiConfig {
  return parseConfig('api', apiConfigSchema, input);
}

/** `edgewave api`: the config with `mongodb` required (only the embedded mode has sessions elsewhere). */
export function parseApiCommandConfig(input: unknown): ApiConfig & { mongodb: NonNullable<ApiConfig['mongodb']> } {
  return parseConfig('api', apiConfigSchema.extend({ mongodb: mongodbSchema.describe('where the sessions are') }), input) as ApiConfig & { mongodb: NonNullable<ApiConfig['mongodb']> };
}

export function applyApiEnv(input: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  return applyEnv(input, 'EW_API_', env, apiConfigSchema);
}
