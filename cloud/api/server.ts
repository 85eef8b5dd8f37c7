// `edgewave api`: the REST app (app.ts) on its port, with MongoDB for sessions (or a repository
// passed in: the embedded mode's file store) and, when configured, Kafka checked by /ready.

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { Counter, type Registry } from 'prom-client';
import { createLogger, type Logger } from '../../protocol/index.js';
import { createKafka, requireTopics } from '../common/kafka.js';
import type { Kafka } from 'kafkajs';
import { SessionStore, type SessionRepository } from '../store/sessions-store.js';
import { buildApi, hasWebApp, sessionView } from './app.js';
import { KeyRing } from './auth.js';
import type { ApiConfig } from './config.js';
import { Hub } from './hub.js';
import { registerLiveRoutes, startLiveFeed } from './live.js';

export interface ApiHandle {
  readonly url: string;
  readonly app: FastifyInstance;
  /** The live fan-out, when Kafka is configured. */
  readonly hub: Hub | null;
  /** Its Kafka feed: `repeats` counts inferences not sent again (written again after an aborted transaction). */
  readonly feed: { stats(): { repeats: number } } | null;
  stop(): Promise<void>;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url).pathname.replace(/\/dist\/package\.json$/, '/package.json'), 'utf8')) as { version: string };

export interface ApiOptions {
  /** The log client, instead of one made from `config.kafka` (the embedded mode passes its in-process log). */
  kafka?: Kafka;
  /** Where sessions are, instead of `config.mongodb` (the embedded mode passes its file store). */
  sessions?: SessionRepository;
  /** A live feed consumer stopped for good (not by a Kafka outage, which the feed rides out); the CLI exits so its supervisor restarts it. */
  onFatal?: (err: Error) => void;
}

export async function startApi(config: ApiConfig, log: Logger = createLogger('api', { level: config.logLevel }), options: ApiOptions = {}): Promise<ApiHandle> {
  const keys = new KeyRing(config.auth);
  if (!keys.open && keys.size === 0) log.warn('no API keys are configured: every route but /, /health, /ready, /metrics and /docs answers 401');
  // The live feed's topics, before anything else starts: a broker that creates topics on first use
  // would make them with its defaults, one that does not fails the subscription with a kafkajs error.
  const feedKafka = config.kafka ? (options.kafka ?? createKafka(config.kafka, log, { initialRetryTime: 200, retries: 10 })) : null;
  if (config.kafka && !options.kafka) await requireTopics(feedKafka!, Object.values(config.kafka.topics));
  let mongo: MongoClient | null = null;
  let store: SessionRepository;
  if (options.sessions) store = options.sessions;
  else {
    if (!config.mongodb) throw new Error('api: mongodb: required (where the sessions are)');
    mongo = new MongoClient(config.mongodb.url, { serverSelectionTimeoutMS: 5000 });
    await mongo.connect();
    store = await SessionStore.open(mongo.db(config.mongodb.database), config.mongodb.collection);
  }
  const sessions = store;
  const checks: Record<string, () => Promise<void>> = { [mongo ? 'mongodb' : 'sessions']: () => sessions.ping() };
  let kafkaAdmin: ReturnType<Kafka['admin']> | null = null;
  if (config.kafka) {
    kafkaAdmin = (options.kafka ?? createKafka(config.kafka, log, { retries: 0 })).admin();
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
  let feed: Awaited<ReturnType<typeof startLiveFeed>> | null = null;
  if (config.kafka) {
    hub = new Hub(config.live);
    feed = await startLiveFeed(feedKafka!, config.kafka.groupPrefix, config.kafka.topics, hub, log, { lookbackS: config.live.lookbackS, readUncommitted: config.live.readUncommitted, onFatal: options.onFatal });
  }
  const liveHub = hub;
  const liveFeed = feed;
  const app = await buildApi({
    config, sessions, keys, checks, version: pkg.version, build: process.env.EW_BUILD ?? 'dev',
    ...(liveFeed
      ? {
          extraMetrics: (registry: Registry) => {
            new Counter({
              name: 'edgewave_api_live_repeats_total', help: 'inferences read before their commit and written again after the transaction was aborted: recognised by sensor, seq and start, not sent again', registers: [registry],
              collect() {
                this.reset();
                this.inc(liveFeed.stats().repeats);
              },
            });
            new Counter({
              name: 'edgewave_api_kafka_recoveries_total', help: 'times a live-feed consumer was joined to its group again after a Kafka outage kafkajs gave up on', registers: [registry],
              collect() {
                this.reset();
                this.inc(liveFeed.stats().recoveries);
              },
            });
          },
        }
      : {}),
    ...(liveHub
      ? {
          extraRoutes: (a: FastifyInstance) =>
            registerLiveRoutes(a, liveHub, config.live.heartbeatMs, async (id) => {
              const d = await sessions.get(id);
              return d ? sessionView(d) : null;
            }),
        }
      : {}),
  });
  const cleanUp = async () => {
    await app.close();
    hub?.close();
    await feed?.stop().catch(() => {});
    await kafkaAdmin?.disconnect().catch(() => {});
    await mongo?.close();
  };
  let url: string;
  try {
    url = await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    // A taken port: nothing started for this API may keep the process alive.
    await cleanUp();
    throw err;
  }
  if (config.web.root !== null && !hasWebApp(config.web.root)) log.warn({ root: config.web.root }, 'the web app is not built there (no index.html): `npm run build` makes it; the API answers without it');
  log.info({ url, keys: keys.size, open: keys.open, webApp: hasWebApp(config.web.root) }, 'api listening');
  return {
    url,
    app,
    hub,
    feed,
    stop: cleanUp,
  };
}
