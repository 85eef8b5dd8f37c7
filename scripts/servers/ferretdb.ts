// FerretDB v1 with its SQLite backend (scripts/ferretdb), a real MongoDB-wire server.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { CACHE, ROOT, requireInstalled, tempDataDir } from './paths.js';
import { freePort, readyOrStop, runningServer, spawnLogged } from './process.js';
import type { RunningServer, StartContext } from './types.js';

export async function startFerretDb(ctx: StartContext): Promise<RunningServer> {
  const bin = requireInstalled('FerretDB', join(CACHE, 'bin', 'ferretdb'));
  const goMod = readFileSync(join(ROOT, 'scripts/ferretdb/go.mod'), 'utf8');
  const version = /FerretDB\/FerretDB (v\S+)/.exec(goMod)?.[1] ?? 'unknown';
  const dataDir = tempDataDir('ferretdb');
  const port = await freePort();
  const logFile = join(ctx.logDir, 'ferretdb.log');
  const proc = spawnLogged(bin, ['-listen', `127.0.0.1:${port}`, '-dir', dataDir], logFile, { detached: ctx.detached });
  const url = `mongodb://127.0.0.1:${port}/`;
  await readyOrStop('ferretdb', proc, dataDir, async () => {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000 });
    try {
      await client.db('admin').command({ ping: 1 });
      return true;
    } finally {
      await client.close();
    }
  }, 30_000);
  return runningServer('ferretdb', `FerretDB ${version} (SQLite backend)`, proc, dataDir, { EW_MONGODB_URL: url });
}
