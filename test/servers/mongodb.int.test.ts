// Smoke test: the `mongodb` driver against the MongoDB-wire server (FerretDB): insert, find,
// upsert by a stable id (how sinks stay idempotent) and a unique index.

import { MongoClient, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servers, uniqueName } from '../config.js';

const settings = servers().ferretdb;

describe.runIf(settings)('MongoDB wire (mongodb driver)', () => {
  let client: MongoClient;
  const dbName = uniqueName('smoke').replace(/-/g, '_');
  beforeAll(async () => {
    client = await new MongoClient(settings!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
  });
  afterAll(async () => {
    await client?.db(dbName).dropDatabase().catch(() => {});
    await client?.close();
  });

  it('inserts, finds with a filter and sort, and upserts idempotently', async () => {
    const sessions = client.db(dbName).collection<{ _id: string; group: string; start: number; frames: number }>('sessions');
    await sessions.insertMany([
      { _id: 'g1:1', group: 'g1', start: 1, frames: 10 },
      { _id: 'g1:2', group: 'g1', start: 2, frames: 20 },
      { _id: 'g2:1', group: 'g2', start: 1, frames: 30 },
    ]);
    const g1 = await sessions.find({ group: 'g1' }).sort({ start: -1 }).toArray();
    expect(g1.map((d) => d._id)).toEqual(['g1:2', 'g1:1']);

    for (let i = 0; i < 3; i++) {
      await sessions.updateOne({ _id: 'g3:1' }, { $set: { group: 'g3', start: 5, frames: 40 } }, { upsert: true });
    }
    expect(await sessions.countDocuments({ group: 'g3' })).toBe(1);
    expect(await sessions.findOne({ _id: 'g3:1' })).toEqual({ _id: 'g3:1', group: 'g3', start: 5, frames: 40 });
  });

  it('enforces a unique index', async () => {
    const sensors = client.db(dbName).collection('sensors');
    await sensors.createIndex({ sensorId: 1 }, { unique: true, name: 'sensorId_unique' });
    const indexes = await sensors.listIndexes().toArray();
    expect(indexes.map((i) => i.name)).toContain('sensorId_unique');
    await sensors.insertOne({ sensorId: 'imu-1', gatewayId: 'gw-1' });
    const err = await sensors.insertOne({ sensorId: 'imu-1', gatewayId: 'gw-2' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(11000);
  });
});
