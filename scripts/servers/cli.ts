// `npm run servers -- start|stop|status [kafka mosquitto ferretdb minio]`: keeps the test servers
// running in the background for development; `source .run/servers.env` then points tests at them.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_DIR, SERVERS_STATE, alive } from './paths.js';
import { SERVER_NAMES, startServers, type ServerName } from './index.js';

// State and env files live in RUN_DIR; EW_RUN_DIR moves them (the CLI's own test does).
const STATE = SERVERS_STATE;
const ENV_FILE = join(RUN_DIR, 'servers.env');

interface State {
  logDir: string;
  servers: { name: string; pid: number; version: string; logFile: string; dataDir: string; env: Record<string, string> }[];
}

async function stop(): Promise<void> {
  if (!existsSync(STATE)) return void console.log('no servers recorded in .run/servers.json');
  const state = JSON.parse(readFileSync(STATE, 'utf8')) as State;
  for (const s of state.servers) {
    if (alive(s.pid)) process.kill(s.pid, 'SIGTERM');
  }
  const deadline = Date.now() + 30_000;
  while (state.servers.some((s) => alive(s.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  for (const s of state.servers) {
    if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
    rmSync(s.dataDir, { recursive: true, force: true });
    console.log(`stopped ${s.name} (pid ${s.pid})`);
  }
  rmSync(STATE, { force: true });
  rmSync(ENV_FILE, { force: true });
}

async function main(): Promise<void> {
  const [command = 'status', ...rest] = process.argv.slice(2);
  const names = (rest.length ? rest : SERVER_NAMES) as ServerName[];
  const unknown = names.filter((n) => !SERVER_NAMES.includes(n));
  if (unknown.length) throw new Error(`unknown server ${unknown.join(', ')}; known: ${SERVER_NAMES.join(', ')}`);
  if (command === 'start') {
    if (existsSync(STATE)) await stop();
    const { logDir, started, failed } = await startServers(names, { detached: true });
    const state: State = {
      logDir,
      servers: started.map((s) => ({ name: s.name, pid: s.pid, version: s.version, logFile: s.logFile, dataDir: s.dataDir, env: s.env })),
    };
    mkdirSync(RUN_DIR, { recursive: true });
    writeFileSync(STATE, JSON.stringify(state, null, 2));
    writeFileSync(ENV_FILE, started.flatMap((s) => Object.entries(s.env).map(([k, v]) => `export ${k}=${v}`)).join('\n') + '\n');
    for (const s of started) console.log(`${s.name.padEnd(10)} ${s.version.padEnd(40)} ${Object.values(s.env)[0]}`);
    for (const f of failed) console.error(`${f.name.padEnd(10)} FAILED: ${f.error.message}`);
    console.log(`\nlogs: ${logDir}\nuse them: source ${ENV_FILE}   stop: npm run servers -- stop`);
    // Detached children keep running; leave without waiting for their handles.
    process.exit(failed.length ? 1 : 0);
  } else if (command === 'stop') {
    await stop();
  } else if (command === 'status') {
    if (!existsSync(STATE)) return void console.log('no servers running (npm run servers -- start)');
    const state = JSON.parse(readFileSync(STATE, 'utf8')) as State;
    for (const s of state.servers) console.log(`${s.name.padEnd(10)} ${alive(s.pid) ? 'running' : 'DEAD   '} pid ${s.pid}  ${s.logFile}`);
  } else {
    throw new Error(`unknown command ${command}: use start, stop or status`);
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
