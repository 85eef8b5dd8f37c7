// `edgewave api`: the REST app (app.ts) on its port, with MongoDB for sessions and, when
// configured, Kafka checked by /ready.

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { createLogger, type Logger } from '../../protocol/index.js';
import { createKafka } from '../common/kafka.js';
import { SessionStore } from '../store/sessions-store.js';
import { buildApi, sessionView } from './app.js';
import { KeyRing } from './auth.js';
import type { ApiConfig } from './config.js';
import { Hub } from './hub.js';
import { registerLiveRoutes, startLiveFeed } from './live.js';

export interface ApiHandle {
  readonly url: string;
  readonly app: FastifyInstance;
  /** The live fan-out, when Kafka is configured. */
  readonly hub: Hub | null;
  stop(): Promise<void>;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url).pathname.replace(/\/dist\/package\.json$/, '/package.json'), 'utf8')) as { version: string };

export async function startApi(config: ApiConfig, log: Logger = createLogger('api', { level: config.logLevel })): Promise<ApiHandle> {
  const keys = new KeyRing(config.auth);
  if (!keys.open && keys.size === 0) log.warn('no API keys are configured: every route but /, /health, /ready, /metrics and /docs answers 401');
  const mongo = new MongoClient(config.mongodb.url, { serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  const db = mongo.db(config.mongodb.database);
  const store = await SessionStore.open(db, config.mongodb.collection);
  const checks: Record<string, () => Promise<void>> = { mongodb: async () => void (await db.command({ ping: 1 })) };
  let kafkaAdmin: ReturnType<ReturnType<typeof createKafka>['admin']> | null = null;
  if (config.kafka) {
    kafkaAdmin = createKafka(config.kafka, log, { retries: 0 }).admin();
    const admin = kafkaAdmin;
    let connected = false;
    checks.kafka = async () => {
      if (!connected) {
        await admin.connect();
        connected = true;
      }
      await admin.describeCluster();
    };
  }
  let hub: Hub | null = null;
  let feed: { stop(): Promise<void> } | null = null;
  if (config.kafka) {
    hub = new Hub(config.live);
    feed = await startLiveFeed(createKafka(config.kafka, log, { initialRetryTime: 200, retries: 10 }), config.kafka.groupPrefix, config.kafka.topics, hub, log, config.live.lookbackS);
  }
  const liveHub = hub;
  const app = await buildApi({
    config, sessions: store.collection, keys, checks, version: pkg.version, build: process.env.EW_BUILD ?? 'dev',
    ...(liveHub
      ? {
          extraRoutes: (a: FastifyInstance) =>
            registerLiveRoutes(a, liveHub, config.live.heartbeatMs, async (id) => {
              const d = await store.get(id);
              return d ? sessionView(d) : null;
            }),
        }
      : {}),
  });
  const url = await app.listen({ host: config.http.host, port: config.http.port });
  log.info({ url, keys: keys.size, open: keys.open }, 'api listening');
  return {
    url,
    app,
    hub,
    async stop() {
      await app.close();
      hub?.close();
      await feed?.stop().catch(() => {});
      await kafkaAdmin?.disconnect().catch(() => {});
      await mongo.close();
    },
  };
}
