// MinIO, an S3-compatible server, built from source by scripts/install-minio.sh.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, requireInstalled, tempDataDir } from './paths.js';
import { freePort, readyOrStop, runningServer, spawnLogged } from './process.js';
import type { RunningServer, StartContext } from './types.js';

/** Development credentials; never used outside tests. */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'edgewave', secretAccessKey: 'edgewave-secret' } as const;

export async function startMinio(ctx: StartContext): Promise<RunningServer> {
  const bin = requireInstalled('MinIO', join(CACHE, 'bin', 'minio'));
  const version = readFileSync(join(CACHE, 'bin', '.minio-installed'), 'utf8').trim();
  const dataDir = tempDataDir('minio');
  const [port, consolePort] = [await freePort(), await freePort()];
  const logFile = join(ctx.logDir, 'minio.log');
  const proc = spawnLogged(
    bin,
    ['server', join(dataDir, 'data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    logFile,
    {
      detached: ctx.detached,
      env: {
        MINIO_ROOT_USER: S3_TEST_CREDENTIALS.accessKeyId,
        MINIO_ROOT_PASSWORD: S3_TEST_CREDENTIALS.secretAccessKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        HOME: dataDir,
      },
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await readyOrStop('minio', proc, dataDir, async () => (await fetch(`${endpoint}/minio/health/ready`)).ok, 60_000);
  return runningServer('minio', `MinIO ${version}`, proc, dataDir, {
    EW_S3_ENDPOINT: endpoint,
    EW_S3_REGION: 'us-east-1',
    EW_S3_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
    EW_S3_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
  });
}
