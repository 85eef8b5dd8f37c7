// How many sensors at 200 Hz one edge agent sustains on one core, per uplink mode, without a
// growing backlog. Starts its own Mosquitto through scripts/servers; runs the agent as its own
// process pinned to one core (taskset), as the gateway runs it (the single-file bundle from
// `npm run bundle:edge`, with the node flags of edge/deploy/edgewave-edge.service), fed by the synthetic source (pre-generated simulator
// signals, so input costs next to nothing); samples its CPU and RSS from /proc.
// Run: npm run bench:edge [-- --json]   (EW_BENCH_TRIAL_S sets the seconds per trial, default 12;
// EW_BENCH_SENSORS=5000 measures that count instead of searching for the largest)

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServers, stopServers } from '../scripts/servers/index.js';
import { procUsage } from './proc.js';

const json = process.argv.includes('--json');
const trialS = Number(process.env.EW_BENCH_TRIAL_S ?? 12);
const RATE = 200;
const root = new URL('..', import.meta.url).pathname;
const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);

interface Trial {
  sensors: number;
  ok: boolean;
  samplesPerS: number;
  cpuPercent: number;
  rssMb: number;
  bytesPerS: number;
  backlogGrowth: number;
  why?: string;
}

// The node flags of the systemd unit, so the agent runs here as it does on a gateway.
const unit = readFileSync(join(root, 'edge/deploy/edgewave-edge.service'), 'utf8');
const unitNodeFlags = /^ExecStart=\S*\s+node\s+((?:--\S+\s+)*)/m.exec(unit)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];

async function metrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(edgewave_edge_(?:samples_total|outbox_bytes|bytes_total\{kind="\w+"\}))\s+(\S+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
const sentBytes = (m: Record<string, number>) => (m['edgewave_edge_bytes_total{kind="raw"}'] ?? 0) + (m['edgewave_edge_bytes_total{kind="features"}'] ?? 0);

async function trial(mqttUrl: string, mode: 'features' | 'raw', sensors: number): Promise<Trial> {
  const dir = mkdtempSync(join(tmpdir(), 'edgewave-bench-edge-'));
  const cfg = join(dir, 'edge.json');
  writeFileSync(cfg, JSON.stringify({
    gatewayId: `bench-${mode}`, dataDir: dir, mqtt: { url: mqttUrl, inFlight: 256 },
    sources: [{ type: 'synthetic', sensors, rate: RATE }], groups: { default: { mode } },
    outbox: { maxBytes: 4 * 2 ** 30 }, uplink: { adaptive: false }, http: { port: 0 }, logLevel: 'error',
  }));
  const proc = spawn('taskset', ['-c', '1', process.execPath, ...unitNodeFlags, join(root, 'dist/edge-bundle/edgewave-edge.mjs'), '--config', cfg, '--drain-ms', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /health and metrics on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`agent exited ${code}: ${err}`)));
    });
    const warm = Math.min(4, trialS / 3);
    await new Promise((r) => setTimeout(r, warm * 1000));
    const m0 = await metrics(url);
    const p0 = procUsage(proc.pid!);
    const t0 = performance.now();
    let rss = p0.rssMb;
    const sampler = setInterval(() => (rss = Math.max(rss, procUsage(proc.pid!).rssMb)), 500);
    await new Promise((r) => setTimeout(r, (trialS - warm) * 1000));
    clearInterval(sampler);
    const m1 = await metrics(url);
    const p1 = procUsage(proc.pid!);
    const s = (performance.now() - t0) / 1000;
    const samplesPerS = ((m1['edgewave_edge_samples_total'] ?? 0) - (m0['edgewave_edge_samples_total'] ?? 0)) / s;
    const backlogGrowth = (m1['edgewave_edge_outbox_bytes'] ?? 0) - (m0['edgewave_edge_outbox_bytes'] ?? 0);
    const bytesPerS = (sentBytes(m1) - sentBytes(m0)) / s;
    const cpuPercent = ((p1.cpuS - p0.cpuS) / s) * 100;
    const expected = sensors * RATE;
    // Sustained: it takes in what the sensors produce, and what it stores, it gets rid of.
    let why: string | undefined;
    if (samplesPerS < 0.97 * expected) why = `took ${(samplesPerS / expected * 100).toFixed(0)}% of the samples`;
    else if (backlogGrowth > Math.max(2 * bytesPerS, 1e6)) why = `backlog grew ${(backlogGrowth / 2 ** 20).toFixed(1)} MiB`;
    return { sensors, ok: !why, samplesPerS, cpuPercent, rssMb: rss, bytesPerS, backlogGrowth, why };
  } finally {
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function search(mqttUrl: string, mode: 'features' | 'raw', start: number) {
  const trials: Trial[] = [];
  const run = async (n: number) => {
    const t = await trial(mqttUrl, mode, n);
    trials.push(t);
    say(`  ${mode.padEnd(8)} ${String(n).padStart(6)} sensors: ${t.ok ? 'sustained' : `not sustained (${t.why})`}, cpu ${t.cpuPercent.toFixed(0)}%, rss ${t.rssMb.toFixed(0)} MB, ${(t.bytesPerS / 1024).toFixed(0)} KiB/s`);
    return t.ok;
  };
  let lo = 0;
  let hi = 0;
  for (let n = start; ; n *= 2) {
    if (await run(n)) lo = n;
    else {
      hi = n;
      break;
    }
    if (n >= 64_000) break;
  }
  if (hi === 0) hi = lo * 2;
  if (lo === 0) {
    for (let n = Math.floor(start / 2); n >= 25; n = Math.floor(n / 2)) if (await run(n)) { lo = n; break; }
    hi = Math.max(hi, lo * 2);
  }
  for (let i = 0; i < 3 && hi - lo > Math.max(50, lo / 10); i++) {
    const mid = Math.round((lo + hi) / 2 / 50) * 50;
    if (await run(mid)) lo = mid;
    else hi = mid;
  }
  const best = trials.filter((t) => t.ok && t.sensors === lo)[0];
  return { mode, rate_hz: RATE, input: 'synthetic: pre-generated simulator signals, in the agent process', max_sensors: lo, cpu_percent: Math.round(best?.cpuPercent ?? 0), rss_mb: Math.round(best?.rssMb ?? 0), bytes_per_s: Math.round(best?.bytesPerS ?? 0), trials };
}

const started = await startServers(['mosquitto']);
if (!started.started.length) throw new Error(`Mosquitto did not start: ${started.failed.map((f) => f.error.message).join('; ')} (run npm run servers:install)`);
const mqttUrl = started.started[0]!.env.EW_MQTT_URL!;
say(`edge agent on one core (taskset -c 1, node ${unitNodeFlags.join(' ') || 'without flags'}), ${RATE} Hz sensors, synthetic input, ${trialS} s per trial`);
try {
  // EW_BENCH_SENSORS=n measures that one count per mode instead of searching.
  const fixed = Number(process.env.EW_BENCH_SENSORS ?? 0);
  const one = async (mode: 'features' | 'raw') => {
    const t = await trial(mqttUrl, mode, fixed);
    say(`  ${mode.padEnd(8)} ${String(fixed).padStart(6)} sensors: ${t.ok ? 'sustained' : `not sustained (${t.why})`}, cpu ${t.cpuPercent.toFixed(0)}%, rss ${t.rssMb.toFixed(0)} MB, ${(t.bytesPerS / 1024).toFixed(0)} KiB/s`);
    return { mode, rate_hz: RATE, input: 'synthetic: pre-generated simulator signals, in the agent process', max_sensors: t.ok ? fixed : 0, cpu_percent: Math.round(t.cpuPercent), rss_mb: Math.round(t.rssMb), bytes_per_s: Math.round(t.bytesPerS), trials: [t] };
  };
  const results = fixed > 0 ? [await one('features'), await one('raw')] : [await search(mqttUrl, 'features', 2000), await search(mqttUrl, 'raw', 1000)];
  if (json) console.log(JSON.stringify({ bench: 'edge', node: process.version, trial_s: trialS, results: results.map(({ trials, ...r }) => ({ ...r, trials })) }));
  else {
    console.log(`\n${'mode'.padEnd(10)} ${'max sensors'.padStart(12)} ${'cpu %'.padStart(7)} ${'rss MB'.padStart(7)} ${'KiB/s out'.padStart(10)}`);
    for (const r of results) console.log(`${r.mode.padEnd(10)} ${String(r.max_sensors).padStart(12)} ${String(r.cpu_percent).padStart(7)} ${String(r.rss_mb).padStart(7)} ${(r.bytes_per_s / 1024).toFixed(0).padStart(10)}`);
  }
} finally {
  await stopServers(started.started);
}
