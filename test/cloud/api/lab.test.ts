// The kernel lab's server side and the web app, in-process (fastify.inject): POST /lab/analyze
// gives the pipeline's own features and classes for IMU CSV, bit for bit what the Node kernels
// give; bad CSV is a 400 naming the line and column; the model file is the one the lab runs;
// browsers get the web app at /, other clients the service description.

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../cloud/api/app.js';
import { KeyRing } from '../../../cloud/api/auth.js';
import { parseApiConfig } from '../../../cloud/api/config.js';
import { parseImuCsv } from '../../../cloud/model/imu-csv.js';
import { ActivityModel } from '../../../cloud/model/model.js';
import { analyzeSeries } from '../../../cloud/model/series.js';
import { SHIPPED_MODEL } from '../../../cloud/model/shipped.js';
import { FileSessionStore } from '../../../cloud/store/file-sessions.js';
import { loadDsp } from '../../../dsp/src/index.js';

const fixture = readFileSync(new URL('../../web/fixtures/walk-fall.csv', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'edgewave-lab-'));
const KEY = 'lab-read-key';
let app: FastifyInstance;

beforeAll(async () => {
  // A stand-in for the built app: the API serves whatever the root holds.
  const web = join(dir, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>edgewave dashboard</title>');
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)');
  const config = parseApiConfig({
    http: { port: 0 },
    auth: { keys: [{ id: 'reader', sha256: createHash('sha256').update(KEY).digest('hex'), scopes: ['read'] }] },
    web: { root: web },
  });
  app = await buildApi({ config, sessions: FileSessionStore.open(join(dir, 'sessions')), keys: new KeyRing(config.auth), checks: {}, version: 'test', build: 'test' });
});
afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

const analyze = (body: string, query = '', key: string | null = KEY) =>
  app.inject({ method: 'POST', url: `/lab/analyze${query}`, payload: body, headers: { 'content-type': 'text/csv', ...(key ? { 'x-api-key': key } : {}) } });

describe('the lab routes', () => {
  it('POST /lab/analyze: the Node kernels\' features bit for bit, and the model\'s class of each window', async () => {
    const r = await analyze(fixture);
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json() as { windows: number; sampleRate: number; names: string[]; features: string; labels: string[]; classes: string[]; scores: string; starts: number[]; backend: string };
    const model = await ActivityModel.load(readFileSync(SHIPPED_MODEL));
    const mine = await analyzeSeries(parseImuCsv(fixture), { dsp: await loadDsp(), model });
    await model.close();
    expect(body.sampleRate).toBe(200);
    expect(body.windows).toBe(9);
    expect(body.starts).toEqual(mine.starts);
    expect(body.names).toEqual(mine.names);
    expect(body.names).toContain('acc.mag_std');
    expect(Buffer.from(body.features, 'base64').equals(Buffer.from(mine.features.buffer))).toBe(true);
    expect(body.labels).toEqual(mine.labels);
    expect(body.classes).toEqual(['idle', 'walking', 'running', 'jumping', 'fall']);
    expect(Buffer.from(body.scores, 'base64').length).toBe(9 * 5 * 4);
    expect(body.labels[0]).toBe('walking');
    expect(body.labels.at(-1)).toBe('idle');
  });

  it('takes ?rate= for CSV without timestamps; the same samples give the same features', async () => {
    const noTime = fixture.split('\n').map((l) => l.split(',').slice(1).join(',')).join('\n');
    const a = (await analyze(fixture)).json() as { features: string };
    const b = await analyze(noTime, '?rate=200');
    expect(b.statusCode, b.body).toBe(200);
    expect((b.json() as { features: string }).features).toBe(a.features);
  });

  it('bad CSV: 400 EW_API_INVALID naming the line and column; a bad rate: 400 naming it; no key: 401', async () => {
    const bad = await analyze('timestamp,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,6\n0.005,1,2,x,4,5,6\n');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'EW_API_INVALID', message: expect.stringContaining('line 3, column az'), details: { line: 3, column: 'az' } });
    const missing = await analyze('t,ax\n0,1\n');
    expect(missing.json()).toMatchObject({ code: 'EW_API_INVALID', details: { missing: ['ay', 'az', 'gx', 'gy', 'gz'] } });
    const rate = await analyze(fixture, '?rate=0');
    expect(rate.statusCode).toBe(400);
    expect(rate.json()).toMatchObject({ code: 'EW_API_INVALID', details: { errors: [{ field: 'querystring.rate' }] } });
    expect((await analyze(fixture, '', null)).json()).toMatchObject({ code: 'EW_API_UNAUTHORIZED' });
  });

  it('GET /lab/model.onnx: the model the lab runs, byte for byte', async () => {
    const r = await app.inject({ method: 'GET', url: '/lab/model.onnx', headers: { 'x-api-key': KEY } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.rawPayload.equals(readFileSync(SHIPPED_MODEL))).toBe(true);
  });
});

describe('the web app', () => {
  it('/ is the dashboard for browsers and the service description for the rest; assets are open; unknown paths 404 in the API\'s shape', async () => {
    const html = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('edgewave dashboard');
    const json = await app.inject({ method: 'GET', url: '/', headers: { accept: 'application/json' } });
    expect(json.json()).toMatchObject({ service: 'edgewave-api', version: 'test' });
    const asset = await app.inject({ method: 'GET', url: '/assets/app.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.body).toBe('console.log(1)');
    const missing = await app.inject({ method: 'GET', url: '/assets/nope.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'EW_API_NOT_FOUND' });
    // The data routes still need their key.
    expect((await app.inject({ method: 'GET', url: '/sessions' })).statusCode).toBe(401);
  });
});
