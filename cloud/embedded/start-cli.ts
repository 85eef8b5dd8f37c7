// `edgewave start` (what `npm start` runs): the whole system in one process, in the foreground,
// with the URL to open, a live status line, and a clean stop on Ctrl-C.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_WEB_APP } from '../api/config.js';
import { startEmbedded, type EmbeddedHandle } from './embedded.js';

export interface StartOptions {
  sensors?: number;
  gateways?: number;
  groups?: number;
  rate?: number;
  host?: string;
  port?: number;
  dataDir?: string;
  seed?: number;
  durationS?: number;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The URL people open: localhost for the loopback address. */
function browserUrl(apiUrl: string, host: string): string {
  const u = new URL(apiUrl);
  if (LOOPBACK.has(host)) u.hostname = 'localhost';
  return u.href;
}

interface Snapshot {
  at: number;
  frames: number;
  windows: number;
}

async function statusLine(e: EmbeddedHandle, started: number, last: Snapshot): Promise<{ text: string; now: Snapshot }> {
  const p = e.processor.stats();
  const b = e.bridge.stats();
  const now = { at: Date.now(), frames: b.frames, windows: p.windows };
  const dt = Math.max(1e-3, (now.at - last.at) / 1000);
  let sensors = 0;
  if (e.api.hub) for (const _ of e.api.hub.sensors()) sensors++;
  const active = (await e.sessions.find({ status: 'active', desc: true, limit: 1000 })).length;
  const stored = e.sessions.size;
  const text =
    `${((now.at - started) / 1000).toFixed(0).padStart(4)}s  sensors ${sensors}  frames ${b.frames} (${((now.frames - last.frames) / dt).toFixed(0)}/s)  ` +
    `windows ${p.windows} (${((now.windows - last.windows) / dt).toFixed(0)}/s)  sessions ${active} active, ${stored} stored  ` +
    `dead letters ${b.deadLetters + p.deadLetters}${b.mqttConnected ? '' : '  [bridge: MQTT down]'}`;
  return { text, now };
}

export async function runStartCommand(o: StartOptions): Promise<number> {
  const started = Date.now();
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8080;
  const dataDir = o.dataDir ?? './data';
  if (!existsSync(join(BUILT_WEB_APP, 'index.html'))) console.warn(`edgewave start: the web app is not built (${BUILT_WEB_APP}); \`npm run build\` makes it. The API runs without it.`);
  console.log('edgewave: starting the whole pipeline in one process (embedded mode)...');
  let e: EmbeddedHandle;
  try {
    e = await startEmbedded({
      dataDir, host, port,
      ...(o.sensors !== undefined ? { sensors: o.sensors } : {}),
      ...(o.gateways !== undefined ? { gateways: o.gateways } : {}),
      ...(o.groups !== undefined ? { groups: o.groups } : {}),
      ...(o.rate !== undefined ? { rate: o.rate } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      logLevel: o.logLevel ?? 'warn',
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      console.error(`edgewave start: port ${port} on ${host} is taken by another program: stop it, or pass --port N (--port 0 picks a free one) [EADDRINUSE]`);
      return 2;
    }
    const c = (err as { code?: string }).code;
    console.error(`edgewave start: ${(err as Error).message}${c ? ` [${c}]` : ''}`);
    return 2;
  }
  const url = browserUrl(e.url, host);
  const sensors = e.agents.reduce((n, a) => n + a.config.sources.reduce((m, s) => m + ('sensors' in s ? (s.sensors as number) : 1), 0), 0);
  const rate = (e.agents[0]?.config.sources[0] as { rate?: number } | undefined)?.rate;
  console.log(`\n  dashboard   ${url}`);
  console.log(`  kernel lab  ${new URL('lab.html', url).href}`);
  console.log(`  API         ${url}sensors, ${url}sessions, ${url}docs (OpenAPI), ws: ${url.replace(/^http/, 'ws')}ws\n`);
  console.log(`  ${sensors} simulated IMU sensors${rate ? ` at ${rate} Hz` : ''} on ${e.agents.length} gateways → MQTT broker ${e.mqttUrl} (aedes) → bridge → in-process log → processor (activity model) → API`);
  console.log(`  sessions and the Parquet archive are kept under ${e.dataDir} and survive a restart. Ctrl-C stops.`);
  if (e.interruptedSessions.length) console.log(`  ${e.interruptedSessions.length} session${e.interruptedSessions.length > 1 ? 's' : ''} the previous run left active ended at ${e.interruptedSessions.length > 1 ? 'their' : 'its'} newest stored window (the in-process log does not survive a restart).`);
  console.log('');

  const tty = process.stdout.isTTY;
  let last: Snapshot = { at: Date.now(), frames: 0, windows: 0 };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void statusLine(e, started, last)
      .then(({ text, now }) => {
        last = now;
        if (tty) process.stdout.write(`\r\x1b[2K${text}`);
        else console.log(text);
      })
      .finally(() => (busy = false));
  }, tty ? 1000 : 5000);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (o.durationS !== undefined && o.durationS > 0) setTimeout(done, o.durationS * 1000).unref();
  });
  clearInterval(timer);
  if (tty) process.stdout.write('\n');
  console.log('edgewave: stopping (gateways, bridge, processor, API; Ctrl-C again to force)...');
  process.once('SIGINT', () => process.exit(130));
  const p = e.processor.stats();
  await e.stop();
  const archived = e.processor.archiver?.stats();
  console.log(`edgewave: stopped after ${((Date.now() - started) / 1000).toFixed(1)} s: ${p.frames} frames, ${p.windows} windows, ${p.inferences} inferences, ${p.sessionEvents} session events${archived ? `, ${archived.frames} frames archived` : ''}; data kept in ${e.dataDir}`);
  return 0;
}
