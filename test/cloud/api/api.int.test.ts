// The REST API on the MongoDB-wire server: a session by REST equals its document; pages by cursor
// walk every session once in order, with filters; keys and scopes are enforced; malformed input
// gets 400 with the field; the OpenAPI document validates and every route in it answers as it says.

import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../cloud/api/auth.js';
import { parseApiConfig } from '../../../cloud/api/config.js';
import { startApi, type ApiHandle } from '../../../cloud/api/server.js';
import { newGroupState, observe, type Observation, type SessionEvent, type SessionOptions } from '../../../cloud/processor/sessions.js';
import { SessionStore } from '../../../cloud/store/sessions-store.js';
import { servers, uniqueName } from '../../config.js';

/** Three windows of walking-then-falling samples (the browser tests' fixture). */
const LAB_CSV = readFileSync(new URL('../../web/fixtures/walk-fall.csv', import.meta.url), 'utf8').split('\n').slice(0, 801).join('\n');

const settings = servers().ferretdb;
const CLASSES = ['idle', 'walking', 'running', 'jumping', 'fall'];
const opts: SessionOptions = { minSensors: 2, startAfterS: 2, idleGapS: 5, summaries: ['acc.mag_std'], updateEveryS: 10, staleUs: 3_000_000 };
const T0 = Date.UTC(2026, 10, 25, 8) * 1000;
const READ = 'ew_test_read_key_0123456789';
const ADMIN = 'ew_test_admin_key_0123456789';

/** Three groups, each with several bouts of activity: ended sessions, and one still active per group. */
function events(): SessionEvent[] {
  const out: SessionEvent[] = [];
  ['ga', 'gb', 'gc'].forEach((group, gi) => {
    const g = newGroupState();
    for (let t = 0; t < 200; t += 1.28) {
      const bout = Math.floor(t / 30);
      const active = t % 30 < 15 + gi;
      const label = active ? CLASSES[1 + ((bout + gi) % 3)]! : 'idle';
      for (const sensorId of [`${group}-1`, `${group}-2`]) {
        const o: Observation = { sensorId, group, t0: T0 + Math.round(t * 1e6), t1: T0 + Math.round((t + 1.28) * 1e6), stepS: 1.28, label, score: 0.9, features: { 'acc.mag_std': active ? 2 : 0.1 } };
        out.push(...observe(g, o, opts, CLASSES));
      }
    }
  });
  return out;
}

describe.runIf(settings)('REST API (MongoDB wire)', () => {
  let client: MongoClient;
  let api: ApiHandle;
  let store: SessionStore;
  const dbName = uniqueName('api').replace(/-/g, '_');
  const get = (path: string, key: string | null = READ, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, { ...init, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(init.headers ?? {}) } });

  beforeAll(async () => {
    client = await new MongoClient(settings!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
    store = await SessionStore.open(client.db(dbName));
    await store.write(events());
    api = await startApi(
      parseApiConfig({
        http: { port: 0 },
        mongodb: { url: settings!.url, database: dbName },
        auth: { keys: [{ id: 'reader', sha256: sha256Hex(READ), scopes: ['read'] }, { id: 'ops', sha256: sha256Hex(ADMIN), scopes: ['admin'] }] },
        logLevel: 'warn',
      }),
    );
  });
  afterAll(async () => {
    await api?.stop();
    await client?.db(dbName).dropDatabase().catch(() => {});
    await client?.close();
  });

  it('a session by REST equals its document in MongoDB', async () => {
    const doc = await store.collection.findOne({ status: 'ended' });
    expect(doc).not.toBeNull();
    const r = await get(`/sessions/${encodeURIComponent(doc!._id)}`);
    expect(r.status).toBe(200);
    const body = await r.json();
    const { _id, version: _v, startAt, endAt, ...rest } = doc!;
    expect(body).toEqual({ sessionId: _id, ...rest, startAt: startAt.toISOString(), endAt: endAt!.toISOString() });
    const missing = await get('/sessions/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'EW_API_NOT_FOUND', details: { sessionId: 'nope' } });
  });

  it('pages walk every session once, newest first or oldest first, and filters narrow them', async () => {
    const all = await store.collection.find().toArray();
    expect(all.length).toBeGreaterThan(10);
    for (const sort of ['-start', 'start']) {
      const seen: { sessionId: string; start: number }[] = [];
      let cursor: string | null = null;
      do {
        const page = (await (await get(`/sessions?limit=4&sort=${sort}${cursor ? `&cursor=${cursor}` : ''}`)).json()) as { items: { sessionId: string; start: number }[]; next: string | null };
        expect(page.items.length).toBeLessThanOrEqual(4);
        seen.push(...page.items);
        cursor = page.next;
      } while (cursor);
      expect(new Set(seen.map((x) => x.sessionId)).size).toBe(all.length);
      const starts = seen.map((x) => x.start);
      expect(starts).toEqual([...starts].sort((a, b) => (sort === 'start' ? a - b : b - a)));
    }
    const gb = (await (await get('/sessions?group=gb&status=ended&limit=500')).json()) as { items: { group: string; status: string }[] };
    expect(gb.items.length).toBe(all.filter((d) => d.group === 'gb' && d.status === 'ended').length);
    expect(gb.items.every((x) => x.group === 'gb' && x.status === 'ended')).toBe(true);
    const dominant = all[0]!.dominant;
    const byDominant = (await (await get(`/sessions?dominant=${dominant}&limit=500`)).json()) as { items: unknown[] };
    expect(byDominant.items.length).toBe(all.filter((d) => d.dominant === dominant).length);
    const from = new Date(T0 / 1000 + 60_000).toISOString();
    const to = new Date(T0 / 1000 + 120_000).toISOString();
    const inRange = (await (await get(`/sessions?from=${from}&to=${to}&limit=500`)).json()) as { items: { start: number }[] };
    expect(inRange.items.length).toBe(all.filter((d) => d.start >= T0 + 60e6 && d.start < T0 + 120e6).length);
    expect(inRange.items.length).toBeGreaterThan(0);
  });

  it('keys: none or unknown is 401, a read key on an admin route is 403, an admin key passes; /health and /ready are open', async () => {
    for (const [key, status, code] of [[null, 401, 'EW_API_UNAUTHORIZED'], ['ew_wrong', 401, 'EW_API_UNAUTHORIZED']] as const) {
      const r = await get('/sessions', key);
      expect(r.status).toBe(status);
      expect(await r.json()).toMatchObject({ code, message: expect.any(String), details: expect.any(Object) });
    }
    const viaHeader = await fetch(`${api.url}/sessions?limit=1`, { headers: { 'x-api-key': READ } });
    expect(viaHeader.status).toBe(200);
    const forbidden = await get('/admin/keys/reload', READ, { method: 'POST' });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ code: 'EW_API_FORBIDDEN', details: { needed: 'admin', key: 'reader' } });
    const reload = await get('/admin/keys/reload', ADMIN, { method: 'POST' });
    expect(reload.status).toBe(200);
    expect(await reload.json()).toEqual({ keys: 2 });
    // An admin key reads too.
    expect((await get('/sessions?limit=1', ADMIN)).status).toBe(200);
    for (const path of ['/health', '/ready', '/']) expect((await get(path, null)).status).toBe(200);
    const ready = await (await get('/ready', null)).json();
    expect(ready).toMatchObject({ status: 'ready', checks: { mongodb: { ok: true } } });
  });

  it('each key has its own budget per minute: past it, 429 EW_API_RATE_LIMITED with Retry-After', async () => {
    const limited = await startApi(
      parseApiConfig({
        http: { port: 0 },
        mongodb: { url: settings!.url, database: dbName },
        auth: { keys: [{ id: 'reader', sha256: sha256Hex(READ), scopes: ['read'] }, { id: 'ops', sha256: sha256Hex(ADMIN), scopes: ['admin'] }], ratePerMinute: 3 },
        logLevel: 'warn',
      }),
    );
    try {
      const call = (key: string) => fetch(`${limited.url}/sessions?limit=1`, { headers: { authorization: `Bearer ${key}` } });
      for (let i = 0; i < 3; i++) expect((await call(READ)).status).toBe(200);
      const over = await call(READ);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await over.json()).toMatchObject({ code: 'EW_API_RATE_LIMITED', details: { key: 'reader', limit: 3 } });
      // Another key, and the open routes, are not affected.
      expect((await call(ADMIN)).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await fetch(`${limited.url}/health`)).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });

  it('malformed queries get 400 EW_API_INVALID naming the field', async () => {
    const cases: [string, RegExp][] = [
      ['/sessions?limit=0', /limit/],
      ['/sessions?limit=abc', /limit/],
      ['/sessions?status=sleeping', /status/],
      ['/sessions?sort=end', /sort/],
      ['/sessions?from=yesterday', /from/],
      ['/sessions?colour=red', /colour/],
      ['/sessions?cursor=bm9wZQ', /cursor/],
    ];
    for (const [path, field] of cases) {
      const r = await get(path);
      expect(r.status, path).toBe(400);
      const body = (await r.json()) as { code: string; message: string; details: { errors: { field: string }[] } };
      expect(body.code, path).toBe('EW_API_INVALID');
      expect(body.details.errors.map((e) => e.field).join(' '), path).toMatch(field);
    }
    const unknown = await get('/nothing/here');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'EW_API_NOT_FOUND' });
  });

  it('identical requests share one read: concurrent ones one query, repeats within cacheMs the same answer, later ones the stored change', async () => {
    const cached = await startApi(
      parseApiConfig({
        http: { port: 0 },
        mongodb: { url: settings!.url, database: dbName },
        auth: { keys: [{ id: 'reader', sha256: sha256Hex(READ), scopes: ['read'] }] },
        rest: { cacheMs: 4000 },
        logLevel: 'warn',
      }),
    );
    try {
      const doc = (await store.collection.findOne({ group: 'gc', status: 'ended' }))!;
      const one = `${cached.url}/sessions/${encodeURIComponent(doc._id)}`;
      const list = `${cached.url}/sessions?group=gc&limit=500`;
      const fetchAll = (url: string, n: number) => Promise.all(Array.from({ length: n }, () => fetch(url, { headers: { 'x-api-key': READ } }).then(async (r) => ({ status: r.status, cache: r.headers.get('x-cache'), body: await r.json() }))));
      for (const url of [one, list]) {
        const answers = await fetchAll(url, 12);
        expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
        expect(answers.filter((a) => a.cache === 'miss')).toHaveLength(1);
        expect(answers.filter((a) => a.cache === 'hit')).toHaveLength(11);
        for (const a of answers) expect(a.body).toEqual(answers[0]!.body);
      }
      const before = (await fetchAll(one, 1))[0]!.body as { dominant: string };
      await store.collection.updateOne({ _id: doc._id }, { $set: { dominant: 'changed' } });
      const soon = (await fetchAll(one, 1))[0]!;
      expect(soon.cache).toBe('hit');
      expect(soon.body.dominant).toBe(before.dominant);
      await new Promise((r) => setTimeout(r, 4200));
      const later = (await fetchAll(one, 1))[0]!;
      expect(later.cache).toBe('miss');
      expect(later.body.dominant).toBe('changed');
      const listed = (await fetchAll(list, 1))[0]!;
      expect(listed.cache).toBe('miss');
      expect((listed.body as { items: { sessionId: string; dominant: string }[] }).items.find((x) => x.sessionId === doc._id)?.dominant).toBe('changed');
      // Not found is never shared.
      const missing = await fetchAll(`${cached.url}/sessions/nope`, 2);
      expect(missing.map((a) => [a.status, a.body.code])).toEqual([[404, 'EW_API_NOT_FOUND'], [404, 'EW_API_NOT_FOUND']]);
      await store.collection.updateOne({ _id: doc._id }, { $set: { dominant: doc.dominant } });
    } finally {
      await cached.stop();
    }
  });

  it('the OpenAPI document validates, and every route in it answers with a status it documents', async () => {
    const doc = await (await get('/docs/json', null)).json();
    await SwaggerParser.validate(structuredClone(doc));
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/', '/health', '/ready', '/metrics', '/sessions', '/sessions/{id}', '/admin/keys/reload', '/lab/analyze', '/lab/model.onnx']));
    const someId = (await store.collection.findOne())!._id;
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const url = path.replace('{id}', encodeURIComponent(someId));
        // The one route with a body: the kernel lab's, given a CSV of a few windows.
        const body = path === '/lab/analyze' ? { body: LAB_CSV, headers: { 'content-type': 'text/csv' } } : {};
        const r = await get(url, path.startsWith('/admin') ? ADMIN : READ, { method: method.toUpperCase(), ...body });
        expect(Object.keys(op.responses), `${method} ${path} answered ${r.status}`).toContain(String(r.status));
        expect(r.status, `${method} ${path}`).toBeLessThan(300);
      }
    }
  });
});
