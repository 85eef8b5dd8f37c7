// Mosquitto with two listeners: an open one, and one with username/password and an ACL that
// keeps each gateway to its own topic prefix (DESIGN.md: one gateway must not write another's data).

import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { freePort, readyOrStop, runningServer, spawnLogged } from './process.js';
import { tempDataDir } from './paths.js';
import type { RunningServer, StartContext } from './types.js';

const run = promisify(execFile);

/** Development credentials of the auth listener; never used outside tests. */
export const MQTT_TEST_USERS = {
  bridge: 'bridge-secret',
  'gateway-a': 'gateway-a-secret',
  'gateway-b': 'gateway-b-secret',
} as const;

export async function startMosquitto(ctx: StartContext): Promise<RunningServer> {
  // `mosquitto -h` prints its version and exits non-zero; a spawn error means it is not installed.
  const help = await run('mosquitto', ['-h']).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const version = /mosquitto version (\S+)/.exec(help.stdout)?.[1];
  if (!version) throw new Error('mosquitto is not installed: run `npm run servers:install` (scripts/install-servers.sh)');
  const dataDir = tempDataDir('mosquitto');
  const [port, authPort] = [await freePort(), await freePort()];
  const passwd = join(dataDir, 'passwd');
  writeFileSync(passwd, '');
  chmodSync(passwd, 0o600);
  for (const [user, pass] of Object.entries(MQTT_TEST_USERS)) await run('mosquitto_passwd', ['-b', passwd, user, pass]);
  const acl = join(dataDir, 'acl');
  writeFileSync(
    acl,
    [
      '# The bridge reads every gateway; each gateway reads and writes only edgewave/<its username>/.',
      'user bridge',
      'topic read edgewave/#',
      'topic read $SYS/broker/publish/messages/dropped',
      '',
      'pattern readwrite edgewave/%u/#',
      '',
    ].join('\n'),
  );
  const conf = join(dataDir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'per_listener_settings true',
      `persistence true`,
      `persistence_location ${dataDir}/`,
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'log_timestamp_format %Y-%m-%dT%H:%M:%S',
      'max_queued_messages 1000000',
      'max_inflight_messages 0',
      'max_packet_size 67108864',
      '',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      '',
      `listener ${authPort} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      `acl_file ${acl}`,
      '',
    ].join('\n'),
  );
  // Started as root, mosquitto drops to the `mosquitto` user, which must then own its files.
  if (process.getuid?.() === 0) await run('chown', ['-R', 'mosquitto', dataDir]).catch(() => {});
  const logFile = join(ctx.logDir, 'mosquitto.log');
  const proc = spawnLogged('mosquitto', ['-c', conf], logFile, { detached: ctx.detached });
  const url = `mqtt://127.0.0.1:${port}`;
  await readyOrStop('mosquitto', proc, dataDir, async () => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000, protocolVersion: 5 });
    await client.endAsync();
    return true;
  }, 20_000);
  return runningServer('mosquitto', `Mosquitto ${version}`, proc, dataDir, { EW_MQTT_URL: url, EW_MQTT_AUTH_URL: `mqtt://127.0.0.1:${authPort}` });
}
