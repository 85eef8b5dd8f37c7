// The REST side of the API, as a Fastify app: routes with JSON schemas (inputs validated, answers
// serialized, the OpenAPI document generated from them and served at /docs), one error shape
// `{ code, message, details }`, and API keys with scopes checked before any route runs.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import cors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { MongoError } from 'mongodb';
import { Registry, collectDefaultMetrics, Counter, Histogram } from 'prom-client';
import type { SessionDocument, SessionRepository } from '../store/sessions-store.js';
import type { KeyRing, Scope } from './auth.js';
import type { ApiConfig } from './config.js';
import { ApiError, errorSchema, type ApiErrorCode } from './errors.js';
import { registerLabRoutes } from './lab.js';

/** Whether `root` holds a built web app. */
export const hasWebApp = (root: string | null): root is string => root !== null && existsSync(join(root, 'index.html'));

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; none: open. */
    scope?: Scope;
  }
  interface FastifyRequest {
    apiKeyId?: string;
  }
}

export interface ApiDeps {
  config: ApiConfig;
  /** Where sessions are: MongoDB, or the embedded mode's file store. */
  sessions: SessionRepository;
  keys: KeyRing;
  /** Dependency checks for /ready: each resolves when reachable, rejects with why not. */
  checks: Record<string, () => Promise<void>>;
  version: string;
  build: string;
  /** More routes (the live ones), registered with the same hooks. */
  extraRoutes?: (app: FastifyInstance) => void;
  /** More metrics (the live feed's), in /metrics. */
  extraMetrics?: (registry: Registry) => void;
}

const sessionSchema = {
  $id: 'Session',
  type: 'object',
  required: ['sessionId', 'group', 'status', 'start', 'end', 'startAt', 'endAt', 'windows', 'dominant', 'sensors', 'labels', 'updatedAt'],
  properties: {
    sessionId: { type: 'string', description: 'stable: the group and the start time' },
    group: { type: 'string' },
    status: { type: 'string', enum: ['active', 'ended'] },
    start: { type: 'integer', description: 'µs since the epoch (sample time) when the start condition began to hold' },
    end: { type: ['integer', 'null'], description: 'µs, the last active moment, once ended' },
    startAt: { type: 'string', format: 'date-time' },
    endAt: { type: ['string', 'null'], format: 'date-time' },
    windows: { type: 'integer' },
    dominant: { type: 'string', description: 'the most frequent activity' },
    sensors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['sensorId', 'windows', 'durationS', 'dominant', 'labels', 'stats'],
        properties: {
          sensorId: { type: 'string' },
          windows: { type: 'integer' },
          durationS: { type: 'number' },
          dominant: { type: 'string' },
          labels: { type: 'array', items: { type: 'object', required: ['label', 'windows'], properties: { label: { type: 'string' }, windows: { type: 'integer' } } } },
          stats: {
            type: 'array',
            items: {
              type: 'object',
              required: ['feature', 'n', 'mean', 'std', 'min', 'max'],
              properties: { feature: { type: 'string' }, n: { type: 'integer' }, mean: { type: 'number' }, std: { type: 'number' }, min: { type: 'number' }, max: { type: 'number' } },
            },
          },
        },
      },
    },
    labels: { type: 'array', items: { type: 'object', required: ['label', 'windows', 'durationS'], properties: { label: { type: 'string' }, windows: { type: 'integer' }, durationS: { type: 'number' } } } },
    updatedAt: { type: 'integer', description: 'µs: sample time of the newest window counted' },
  },
} as const;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]));

/** What a session looks like to API clients: the stored document with `sessionId` for `_id`. */
export function sessionView(d: SessionDocument): Record<string, unknown> {
  const { _id, version: _v, startAt, endAt, ...rest } = d;
  return { sessionId: _id, ...rest, startAt: startAt.toISOString(), endAt: endAt ? endAt.toISOString() : null };
}

type SessionsQuery = { group?: string; status?: 'active' | 'ended'; dominant?: string; from?: string; to?: string; sort: 'start' | '-start'; limit: number; cursor?: string };

const encodeCursor = (d: { start: number; _id: string }) => Buffer.from(JSON.stringify([d.start, d._id])).toString('base64url');
function decodeCursor(cursor: string): { start: number; id: string } {
  try {
    const [start, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown];
    if (typeof start === 'number' && typeof id === 'string') return { start, id };
  } catch {
    // falls through
  }
  throw new ApiError('EW_API_INVALID', 'cursor: not a cursor this API gave out (use the `next` of a previous page)', { details: { errors: [{ field: 'cursor', message: 'not a cursor this API gave out' }] } });
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const { config, keys } = deps;
  const app = Fastify({
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true } },
    // Query strings like ?status=active&status=ended are refused by the schema, not merged.
    routerOptions: { ignoreTrailingSlash: true },
    // Errors the router raises before any route (a malformed URL, a path parameter over 100
    // characters) in the one error shape too.
    frameworkErrors: (err, _req, reply) => {
      const status = (err as FastifyError).statusCode ?? 400;
      void (reply as FastifyReply).status(status).send({ code: 'EW_API_INVALID', message: err.message, details: { reason: (err as FastifyError).code } });
    },
  });
  const started = Date.now();

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'edgewave_api_' });
  const requests = new Counter({ name: 'edgewave_api_requests_total', help: 'requests answered, by route and status', labelNames: ['route', 'status'], registers: [registry] });
  deps.extraMetrics?.(registry);
  const duration = new Histogram({ name: 'edgewave_api_request_seconds', help: 'time to answer, by route', labelNames: ['route'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] });

  app.addSchema(errorSchema);
  app.addSchema(sessionSchema);

  // Shared answers for the MongoDB routes: dashboards poll the same few pages, so identical
  // requests within `rest.cacheMs` (and every request arriving while one is being read) share one
  // query and one serialization. An answer is at most cacheMs old; live changes go out on /ws.
  const cacheHits = new Counter({ name: 'edgewave_api_cache_total', help: 'MongoDB route answers by how they were made: hit (shared), miss (read)', labelNames: ['result'], registers: [registry] });
  type Load = { load: () => Promise<string> };
  const cache = config.rest.cacheMs > 0
    ? new LRUCache<string, string, Load>({
        ttl: config.rest.cacheMs,
        maxSize: config.rest.cacheMaxMb * 1024 * 1024,
        sizeCalculation: (v, k) => v.length + k.length,
        fetchMethod: (_key, _stale, { context }) => context.load(),
      })
    : null;
  /** The answer's JSON text for `key`, shared while fresh; sets x-cache: hit or miss. */
  const shared = async (reply: FastifyReply, key: string, load: () => Promise<string>): Promise<FastifyReply> => {
    let body: string;
    let result: 'hit' | 'miss' = 'miss';
    if (cache) {
      const status: LRUCache.Status<string, string, Load> = {};
      body = (await cache.fetch(key, { context: { load }, status }))!;
      if (status.fetch === 'hit' || status.fetch === 'inflight') result = 'hit';
    } else body = await load();
    cacheHits.inc({ result });
    return reply.header('x-cache', result).type('application/json; charset=utf-8').send(body);
  };
  /** MongoDB not answering is a 503 with its reason, not an internal error. */
  const fromStore = async <T>(q: Promise<T>): Promise<T> => {
    try {
      return await q;
    } catch (err) {
      if (err instanceof MongoError) throw new ApiError('EW_API_UNAVAILABLE', `MongoDB: ${err.message}`, { details: { dependency: 'mongodb' } });
      throw err;
    }
  };

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'edgewave API', version: deps.version, description: 'Sessions, sensors and live results of an edgewave deployment. Every error is `{ code, message, details }`.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' }, bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  if (config.cors.origins.length) await app.register(cors, { origin: [...config.cors.origins], allowedHeaders: ['authorization', 'x-api-key', 'content-type'] });

  // Keys before anything else: a route's `config.scope` says what it needs.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const scope = req.routeOptions.config?.scope;
    if (!scope || keys.open) return;
    const header = req.headers.authorization;
    let presented = header?.startsWith('Bearer ') ? header.slice(7).trim() : (req.headers['x-api-key'] as string | undefined);
    // Browsers cannot set headers on a WebSocket: there the key may come as ?key=.
    if (!presented && req.headers.upgrade?.toLowerCase() === 'websocket') presented = (req.query as { key?: string }).key;
    if (!presented) throw new ApiError('EW_API_UNAUTHORIZED', 'an API key is needed: send it as Authorization: Bearer <key> or X-API-Key: <key>');
    const key = keys.find(presented);
    if (!key) throw new ApiError('EW_API_UNAUTHORIZED', 'this API key is not known');
    if (!key.scopes.includes(scope) && !(scope === 'read' && key.scopes.includes('admin'))) {
      throw new ApiError('EW_API_FORBIDDEN', `this route needs the ${scope} scope; key ${key.id} has ${key.scopes.join(', ')}`, { details: { needed: scope, key: key.id, scopes: key.scopes } });
    }
    req.apiKeyId = key.id;
  });
  // Per key, after the key check (route hooks run after app hooks): requests without a key (open
  // routes, or keys turned off) are not counted.
  await app.register(rateLimit, {
    global: true,
    max: config.auth.ratePerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => req.apiKeyId ?? '',
    allowList: (req) => req.apiKeyId === undefined,
    errorResponseBuilder: (req, ctx) =>
      new ApiError('EW_API_RATE_LIMITED', `key ${req.apiKeyId} has used its ${ctx.max} requests for this minute; retry in ${Math.ceil(ctx.ttl / 1000)} s`, { details: { key: req.apiKeyId, limit: ctx.max, retryAfterS: Math.ceil(ctx.ttl / 1000) } }),
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    requests.inc({ route, status: String(reply.statusCode) });
    duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError | ApiError, _req, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).send({ code: err.code, message: err.message, details: err.details ?? {} });
    if ((err as FastifyError).validation) {
      const list = (err as FastifyError).validation!.map((v) => {
        const field = `${(err as FastifyError).validationContext ?? ''}${v.instancePath.replace(/\//g, '.')}${v.params && 'missingProperty' in v.params ? `.${String(v.params.missingProperty)}` : ''}${v.params && 'additionalProperty' in v.params ? `.${String(v.params.additionalProperty)}` : ''}`;
        return { field, message: v.message ?? 'invalid' };
      });
      return reply.status(400).send({ code: 'EW_API_INVALID', message: list.map((e) => `${e.field}: ${e.message}`).join('; '), details: { errors: list } });
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const code: ApiErrorCode = status === 404 ? 'EW_API_NOT_FOUND' : status === 429 ? 'EW_API_RATE_LIMITED' : 'EW_API_INVALID';
      return reply.status(status).send({ code, message: err.message, details: {} });
    }
    reply.log.error(err);
    return reply.status(500).send({ code: 'EW_API_INTERNAL', message: 'internal error', details: {} });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ code: 'EW_API_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}`, details: {} }));

  // The web app, open like any static site (what it shows comes from the routes, with their keys).
  // Its files at their paths; `/` is the dashboard for browsers and the service description for the rest.
  const webApp = hasWebApp(config.web.root);
  if (webApp) await app.register(fastifyStatic, { root: config.web.root!, prefix: '/', wildcard: true, index: false, maxAge: 0 });
  if (config.web.lab) registerLabRoutes(app, config.web.model);

  app.get('/', {
    schema: {
      summary: 'What this is (browsers asking for HTML get the dashboard)',
      tags: ['service'],
      security: [],
      response: { 200: { type: 'object', required: ['service', 'version', 'build', 'uptimeS'], properties: { service: { type: 'string' }, version: { type: 'string' }, build: { type: 'string' }, uptimeS: { type: 'number' } } } },
    },
  }, async (req, reply) => {
    if (webApp && req.headers.accept?.includes('text/html')) return reply.sendFile('index.html');
    return { service: 'edgewave-api', version: deps.version, build: deps.build, uptimeS: (Date.now() - started) / 1000 };
  });

  app.get('/health', {
    schema: { summary: 'Liveness', tags: ['service'], security: [], response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } } },
  }, async () => ({ status: 'ok' as const }));

  const checkSchema = { type: 'object', required: ['ok', 'ms'], properties: { ok: { type: 'boolean' }, ms: { type: 'number' }, error: { type: 'string' } } };
  app.get('/ready', {
    schema: {
      summary: 'Readiness: every dependency answers',
      tags: ['service'],
      security: [],
      response: {
        200: { type: 'object', required: ['status', 'checks'], properties: { status: { type: 'string', enum: ['ready'] }, checks: { type: 'object', additionalProperties: checkSchema } } },
        503: { $ref: 'Error#' },
      },
    },
  }, async (_req, reply) => {
    const checks: Record<string, { ok: boolean; ms: number; error?: string }> = {};
    await Promise.all(
      Object.entries(deps.checks).map(async ([name, check]) => {
        const t = performance.now();
        try {
          await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref())]);
          checks[name] = { ok: true, ms: +(performance.now() - t).toFixed(1) };
        } catch (err) {
          checks[name] = { ok: false, ms: +(performance.now() - t).toFixed(1), error: (err as Error).message };
        }
      }),
    );
    const down = Object.entries(checks).filter(([, c]) => !c.ok).map(([n]) => n);
    if (down.length) return reply.status(503).send({ code: 'EW_API_UNAVAILABLE', message: `not ready: ${down.join(', ')} ${down.length > 1 ? 'do' : 'does'} not answer`, details: { checks } });
    return { status: 'ready' as const, checks };
  });

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics', tags: ['service'], security: [], produces: ['text/plain'], response: { 200: { type: 'string' } } },
  }, async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.get<{ Querystring: SessionsQuery }>('/sessions', {
    config: { scope: 'read' },
    schema: {
      summary: 'Sessions, newest first by default, a page at a time',
      tags: ['sessions'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          group: { type: 'string', minLength: 1, maxLength: 128 },
          status: { type: 'string', enum: ['active', 'ended'] },
          dominant: { type: 'string', minLength: 1, maxLength: 64, description: 'the dominant activity, e.g. walking' },
          from: { type: 'string', format: 'date-time', description: 'sessions that started at or after this time' },
          to: { type: 'string', format: 'date-time', description: 'sessions that started before this time' },
          sort: { type: 'string', enum: ['start', '-start'], default: '-start' },
          limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          cursor: { type: 'string', maxLength: 512, description: 'the `next` of the previous page' },
        },
      },
      response: {
        200: { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: { $ref: 'Session#' } }, next: { type: ['string', 'null'], description: 'pass as cursor for the next page; null on the last' } } },
        ...errors(400, 401, 403, 429),
      },
    },
  }, async (req, reply) => {
    const q = req.query;
    const key = JSON.stringify(['sessions', q.group, q.status, q.dominant, q.from, q.to, q.sort, q.limit, q.cursor]);
    return shared(reply, key, async () => String(reply.serialize(await sessionsPage(q))));
  });

  async function sessionsPage(q: SessionsQuery): Promise<{ items: Record<string, unknown>[]; next: string | null }> {
    const c = q.cursor ? decodeCursor(q.cursor) : undefined;
    const docs = await fromStore(deps.sessions.find({
      group: q.group, status: q.status, dominant: q.dominant,
      from: q.from ? Date.parse(q.from) * 1000 : undefined, to: q.to ? Date.parse(q.to) * 1000 : undefined,
      desc: q.sort === '-start', after: c ? { start: c.start, id: c.id } : undefined, limit: q.limit + 1,
    }));
    const page = docs.slice(0, q.limit);
    return { items: page.map(sessionView), next: docs.length > q.limit ? encodeCursor(page.at(-1)!) : null };
  }


  app.get<{ Params: { id: string } }>('/sessions/:id', {
    config: { scope: 'read' },
    schema: {
      summary: 'One session',
      tags: ['sessions'],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 300 } } },
      response: { 200: { $ref: 'Session#' }, ...errors(401, 403, 404, 429) },
    },
  }, async (req, reply) => {
    const id = req.params.id;
    return shared(reply, JSON.stringify(['session', id]), async () => {
      const d = await fromStore(deps.sessions.get(id));
      // Not found is not shared: the session may be stored a moment later.
      if (!d) throw new ApiError('EW_API_NOT_FOUND', `no session ${id}`, { details: { sessionId: id } });
      return String(reply.serialize(sessionView(d)));
    });
  });

  app.post('/admin/keys/reload', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Read the API keys again (keys file and keys directory)',
      tags: ['admin'],
      response: { 200: { type: 'object', required: ['keys'], properties: { keys: { type: 'integer' } } }, ...errors(401, 403, 429) },
    },
  }, async () => {
    keys.reload();
    return { keys: keys.size };
  });

  deps.extraRoutes?.(app);
  return app;
}
