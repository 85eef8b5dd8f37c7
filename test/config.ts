// The one place tests learn how to reach the real servers. test/global-setup.ts starts them (or
// checks the ones named by EW_* variables) and hands the settings over; tests read them here.

import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export interface ServerSettings {
  kafka?: { brokers: string[] };
  mosquitto?: { url: string; authUrl: string; users: Record<string, string> };
  ferretdb?: { url: string };
  minio?: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** Chromium for the browser tests, driven by playwright-core. */
  chromium?: { executablePath: string };
  /** Why a server is unavailable (never set when CI=true: the run fails instead). */
  missing: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: ServerSettings;
  }
}

export function servers(): ServerSettings {
  return inject('servers');
}

/** Settings from the EW_* environment variables, as scripts/servers writes them. */
export function settingsFromEnv(env: NodeJS.ProcessEnv, users: Record<string, string>): Omit<ServerSettings, 'missing'> {
  const s: Omit<ServerSettings, 'missing'> = {};
  if (env.EW_KAFKA_BROKERS) s.kafka = { brokers: env.EW_KAFKA_BROKERS.split(',') };
  if (env.EW_MQTT_URL) s.mosquitto = { url: env.EW_MQTT_URL, authUrl: env.EW_MQTT_AUTH_URL ?? env.EW_MQTT_URL, users };
  if (env.EW_MONGODB_URL) s.ferretdb = { url: env.EW_MONGODB_URL };
  if (env.EW_S3_ENDPOINT) {
    s.minio = {
      endpoint: env.EW_S3_ENDPOINT,
      region: env.EW_S3_REGION ?? 'us-east-1',
      accessKeyId: env.EW_S3_ACCESS_KEY_ID ?? 'edgewave',
      secretAccessKey: env.EW_S3_SECRET_ACCESS_KEY ?? 'edgewave-secret',
    };
  }
  return s;
}

/** A name no other test (or earlier run) uses: suites share one server of each kind. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
