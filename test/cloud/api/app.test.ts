// The REST app with a MongoDB that does not answer: the session routes say 503
// EW_API_UNAVAILABLE naming the dependency (not a 500), and nothing is kept for the next request.

import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../cloud/api/app.js';
import { KeyRing } from '../../../cloud/api/auth.js';
import { parseApiConfig } from '../../../cloud/api/config.js';
import { SessionStore } from '../../../cloud/store/sessions-store.js';

describe('REST app without its MongoDB', () => {
  // Port 9 (discard) on loopback: nothing listens there, so every try is refused at once.
  const client = new MongoClient('mongodb://127.0.0.1:9', { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 });
  afterAll(() => client.close());

  it('answers 503 EW_API_UNAVAILABLE naming mongodb, for pages and single sessions, every time', async () => {
    const config = parseApiConfig({ http: { port: 0 }, mongodb: { url: 'mongodb://127.0.0.1:9' }, auth: { open: true } });
    const app = await buildApi({ config, sessions: SessionStore.wrap(client.db('x')), keys: new KeyRing(config.auth), checks: {}, version: 'test', build: 'test' });
    try {
      for (const url of ['/sessions', '/sessions?group=g1', '/sessions/abc', '/sessions']) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(503);
        expect(r.json()).toMatchObject({ code: 'EW_API_UNAVAILABLE', message: expect.stringMatching(/^MongoDB: /), details: { dependency: 'mongodb' } });
      }
    } finally {
      await app.close();
    }
  });
});
