// MongoDB (the MongoDB-wire server) against the sessions contract (sessions-contract.ts) that the
// embedded mode's file store passes too (file-sessions.test.ts).

import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe } from 'vitest';
import { SessionStore } from '../../../cloud/store/sessions-store.js';
import { servers, uniqueName } from '../../config.js';
import { sessionsContract } from './sessions-contract.js';

const settings = servers().ferretdb;

describe.runIf(settings)('MongoDB: the sessions contract', () => {
  let client: MongoClient;
  const dbName = uniqueName('contract').replace(/-/g, '_');
  beforeAll(async () => {
    client = await new MongoClient(settings!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
  });
  afterAll(async () => {
    await client?.db(dbName).dropDatabase().catch(() => {});
    await client?.close();
  });
  sessionsContract(() => SessionStore.open(client.db(dbName), uniqueName('s')));
});
