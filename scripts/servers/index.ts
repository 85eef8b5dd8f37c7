// Starts the development and test servers side by side and stops them together.

import { startFerretDb } from './ferretdb.js';
import { startKafka } from './kafka.js';
import { startMinio } from './minio.js';
import { startMosquitto } from './mosquitto.js';
import { newRunLogDir } from './paths.js';
import type { RunningServer, ServerName, StartContext } from './types.js';

export * from './types.js';
export { MQTT_TEST_USERS } from './mosquitto.js';
export { S3_TEST_CREDENTIALS } from './minio.js';

const STARTERS: Record<ServerName, (ctx: StartContext) => Promise<RunningServer>> = {
  kafka: startKafka,
  mosquitto: startMosquitto,
  ferretdb: startFerretDb,
  minio: startMinio,
};

export interface StartResult {
  logDir: string;
  started: RunningServer[];
  failed: { name: ServerName; error: Error }[];
}

/** Starts the named servers concurrently; one failing does not stop the others from starting. */
export async function startServers(names: readonly ServerName[], options: { detached?: boolean; logDir?: string } = {}): Promise<StartResult> {
  const logDir = options.logDir ?? newRunLogDir();
  const ctx: StartContext = { logDir, detached: options.detached ?? false };
  // A free port found by freePort() can be taken by another process before the server binds it;
  // one more try with fresh ports covers that race.
  const startOne = (n: ServerName) => STARTERS[n](ctx).catch(() => STARTERS[n](ctx));
  const results = await Promise.allSettled(names.map(startOne));
  const started: RunningServer[] = [];
  const failed: StartResult['failed'] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') started.push(r.value);
    else failed.push({ name: names[i]!, error: r.reason instanceof Error ? r.reason : new Error(String(r.reason)) });
  });
  return { logDir, started, failed };
}

export async function stopServers(servers: readonly RunningServer[]): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.stop()));
}
