// The API's OpenAPI document, fuzzed: for every route it lists, requests with random and malformed
// path parameters, query strings and bodies. No answer is a 5xx, and every error answer has the
// one error shape with a documented code. In-process (fastify.inject), on the file session store.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../cloud/api/app.js';
import { KeyRing } from '../../../cloud/api/auth.js';
import { parseApiConfig } from '../../../cloud/api/config.js';
import { API_ERROR_CODES } from '../../../cloud/api/errors.js';
import { FileSessionStore } from '../../../cloud/store/file-sessions.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-fuzz-'));
let app: FastifyInstance;
const RUNS = Number(process.env.EW_FUZZ_RUNS ?? 300);

beforeAll(async () => {
  const config = parseApiConfig({ http: { port: 0 }, auth: { open: true }, web: { root: null } });
  app = await buildApi({ config, sessions: FileSessionStore.open(join(dir, 'sessions')), keys: new KeyRing(config.auth), checks: {}, version: 'fuzz', build: 'fuzz' });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

// Values that tend to break parsers: wrong types, huge numbers, odd text, encodings.
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom('', ' ', '-1', '0', '1e309', 'NaN', 'null', 'true', '[]', '{}', '%00', '../../etc/passwd', 'ａｂｃ', '\u0000', 'a'.repeat(2000), '2026-13-45T99:99:99Z', '-start', 'start'),
);

describe('OpenAPI fuzzing', () => {
  it('no route answers 5xx to malformed input, and every error has the documented shape and a known code', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name) })));
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(['GET /sessions', 'GET /sessions/{id}', 'POST /lab/analyze']));
    const codes = new Set(Object.keys(API_ERROR_CODES));
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        nasty,
        fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'cursor', 'from', 'to', 'sort', 'status', 'group', 'dominant', 'rate', 'key'), fc.string({ maxLength: 8 })), nasty), { maxLength: 5 }),
        fc.oneof(nasty, fc.constantFrom('timestamp,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,6\n', 'ax,ay\n1')),
        async (route, param, query, body) => {
          const path = route.path.replace(/\{[^}]+\}/g, encodeURIComponent(param));
          const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
          const r = await app.inject({ method: route.method as 'GET', url: `${path}${qs ? `?${qs}` : ''}`, ...(route.method === 'POST' ? { payload: body, headers: { 'content-type': 'text/csv' } } : {}) });
          requests++;
          expect(r.statusCode, `${route.method} ${path}?${qs} → ${r.statusCode} ${r.body.slice(0, 200)}`).toBeLessThan(500);
          if (r.statusCode >= 400) {
            const e = r.json() as { code: string; message: string; details: unknown };
            expect(codes.has(e.code), `${route.method} ${path}: code ${e.code}`).toBe(true);
            expect(typeof e.message).toBe('string');
            expect(typeof e.details).toBe('object');
          }
        },
      ),
      { numRuns: RUNS },
    );
    expect(requests).toBeGreaterThanOrEqual(RUNS);
  }, 120_000);
});
