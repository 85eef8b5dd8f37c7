// The web app in a real browser (Debian's Chromium, driven by playwright-core, headless), against
// `edgewave start` running as its own process, as a person would run it:
// - the dashboard shows live data from at least 50 sensors within 10 s of opening;
// - the kernel lab's features for a fixed CSV equal the Node kernels' bit for bit, and its classes
//   (onnxruntime-web in the page) equal the server's (onnxruntime-node) and the Node run's;
// - when `edgewave start` stops (Ctrl-C) and starts again on the same port and data directory, the
//   open dashboard reconnects by itself and moves again.
// Screenshots of each page go to .run/test-output/browser/.
//
// The fixture (fixtures/walk-fall.csv, 12 s at 200 Hz: walking, a fall, lying still) was written
// from the simulator (seed 42), values rounded to 4 decimals as a sensor export would be.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDsp } from '../../dsp/src/index.js';
import { parseImuCsv } from '../../cloud/model/imu-csv.js';
import { ActivityModel } from '../../cloud/model/model.js';
import { SHIPPED_MODEL } from '../../cloud/model/shipped.js';
import { analyzeSeries } from '../../cloud/model/series.js';

const root = new URL('../../', import.meta.url);
const bin = new URL('bin/edgewave.js', root).pathname;
const fixture = new URL('fixtures/walk-fall.csv', import.meta.url).pathname;
const out = new URL('.run/test-output/browser/', root).pathname;
const chromiumPath = process.env.EW_CHROMIUM ?? '/usr/bin/chromium';
const dataDir = mkdtempSync(join(tmpdir(), 'edgewave-web-'));

interface Started {
  proc: ChildProcessWithoutNullStreams;
  url: string;
  output: () => string;
}

/** `edgewave start` as a process; resolves once it prints the dashboard's URL. */
function startCli(port: number): Promise<Started> {
  const proc = spawn(process.execPath, [bin, 'start', '--port', String(port), '--data-dir', dataDir, '--sensors', '50'], { cwd: root.pathname, env: { ...process.env, FORCE_COLOR: '0' } });
  let text = '';
  proc.stdout.on('data', (b: Buffer) => (text += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (text += b.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`edgewave start printed no URL within 60 s:\n${text}`)), 60_000);
    const look = () => {
      const m = /dashboard\s+(http:\/\/\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', look);
        resolve({ proc, url: m[1]!, output: () => text });
      }
    };
    proc.stdout.on('data', look);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`edgewave start exited (${code}) before printing its URL:\n${text}`));
    });
  });
}

/** Ctrl-C, and the exit code once it has stopped. */
async function interrupt(s: Started): Promise<number | null> {
  const exited = new Promise<number | null>((r) => s.proc.once('exit', (code) => r(code)));
  s.proc.kill('SIGINT');
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

let browser: Browser;
let app: Started;
const pageErrors: string[] = [];

async function open(path: string): Promise<Page> {
  pageErrors.length = 0;
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (err) => pageErrors.push(`${path}: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`${path}: console: ${m.text()}`);
  });
  await page.goto(new URL(path, app.url).href);
  return page;
}

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: \`npm run servers:install\` (scripts/install-chromium.sh) installs Debian's, or set EW_CHROMIUM`);
  mkdirSync(out, { recursive: true });
  [browser, app] = await Promise.all([chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] }), startCli(0)]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (app && app.proc.exitCode === null) await interrupt(app);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the web app in Chromium', () => {
  it('the dashboard shows live data from at least 50 sensors within 10 s', async () => {
    const page = await open('/');
    const opened = Date.now();
    await page.waitForFunction(() => Number(document.body.dataset.sensorsLive ?? 0) >= 50, undefined, { timeout: 10_000, polling: 100 });
    const tookMs = Date.now() - opened;
    const cards = await page.$$eval('.sensor', (els) => els.map((e) => ({ id: (e as HTMLElement).dataset.sensor, windows: Number((e as HTMLElement).dataset.windows), label: (e as HTMLElement).dataset.label, plotted: !!e.querySelector('.spark canvas') })));
    expect(cards.length).toBe(50);
    expect(new Set(cards.map((c) => c.id)).size).toBe(50);
    expect(cards.every((c) => c.windows >= 2 && ['idle', 'walking', 'running', 'jumping', 'fall'].includes(c.label!))).toBe(true);
    expect(await page.textContent('#conn')).toBe('live');
    // Moving: windows keep coming, and the pipeline panel counts them.
    const before = cards.reduce((n, c) => n + c.windows, 0);
    await page.waitForFunction((b) => Array.from(document.querySelectorAll<HTMLElement>('.sensor')).reduce((n, e) => n + Number(e.dataset.windows), 0) >= b + 50, before, { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.getElementById('n-rate')!.textContent) > 0 && document.getElementById('n-p99')!.textContent !== '–', undefined, { timeout: 5000 });
    expect(Number(await page.textContent('#n-sensors'))).toBe(50);
    expect(await page.$$eval('#groups .group', (els) => els.length)).toBe(5);
    await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
    console.log(`dashboard: 50 sensors live ${tookMs} ms after opening`);
    await page.close();
    expect(pageErrors).toEqual([]);
  }, 40_000);

  it('the kernel lab: features of a fixed CSV equal the Node kernels\' bit for bit, and the in-browser model gives the server\'s classes', async () => {
    const page = await open('/lab.html');
    // The page simulates an input when it opens; then the fixture goes in as a dropped file would.
    await page.waitForFunction(() => window.edgewaveLab?.state === 'done' || window.edgewaveLab?.state === 'error', undefined, { timeout: 30_000 });
    expect(await page.evaluate(() => window.edgewaveLab.error ?? null)).toBeNull();
    await page.setInputFiles('#file', fixture);
    await page.waitForFunction(() => window.edgewaveLab.input?.name === 'walk-fall.csv' && window.edgewaveLab.state !== 'running', undefined, { timeout: 30_000 });
    const lab = await page.evaluate(() => window.edgewaveLab);
    expect(lab.error).toBeUndefined();
    expect(lab.state).toBe('done');
    expect(lab.input).toEqual({ name: 'walk-fall.csv', samples: 2400, sampleRate: 200 });

    // The same file through the Node kernels and onnxruntime-node, here in the test.
    const series = parseImuCsv(readFileSync(fixture, 'utf8'));
    const model = await ActivityModel.load(readFileSync(SHIPPED_MODEL), { backend: 'node' });
    const node = await analyzeSeries(series, { dsp: await loadDsp(), model });
    await model.close();
    expect(node.windows).toBe(9);
    expect(lab.browser!.windows).toBe(node.windows);
    expect(lab.browser!.simd).toBe(true);
    expect(lab.browser!.features).toBe(Buffer.from(node.features.buffer, node.features.byteOffset, node.features.byteLength).toString('base64'));
    // The page's own comparison with the server (POST /lab/analyze) says the same, and shows it.
    expect(lab.server!.features).toBe(lab.browser!.features);
    expect(lab.featuresIdentical).toBe(true);
    expect(await page.getAttribute('#verdict-features', 'data-state')).toBe('match');

    // Classes: the page's onnxruntime-web, the server's and this test's onnxruntime-node.
    expect(lab.browser!.backend).toBe('onnxruntime-web');
    expect(lab.server!.backend).toBe('onnxruntime-node');
    expect(lab.browser!.labels).toEqual(node.labels);
    expect(lab.server!.labels).toEqual(node.labels);
    expect(lab.classesIdentical).toBe(true);
    expect(await page.getAttribute('#verdict-classes', 'data-state')).toBe('match');
    // The fixture walks, falls and lies still: the model sees the walking and the lying.
    expect(node.labels![0]).toBe('walking');
    expect(node.labels!.at(-1)).toBe('idle');
    const scores = Buffer.from(lab.browser!.scores, 'base64');
    const mine = new Float32Array(scores.buffer, scores.byteOffset, scores.byteLength / 4);
    mine.forEach((v, i) => expect(Math.abs(v - node.scores![i]!)).toBeLessThan(1e-5));

    // The table of the picked window lists every feature as identical.
    expect(await page.$$eval('#features .same', (els) => els.length)).toBe(node.names.length);
    await page.screenshot({ path: join(out, 'lab.png'), fullPage: true });
    await page.close();
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('Ctrl-C stops edgewave start cleanly; started again on the same port, the open dashboard reconnects and moves', async () => {
    const page = await open('/');
    await page.waitForFunction(() => Number(document.body.dataset.sensorsLive ?? 0) >= 50, undefined, { timeout: 10_000 });
    const port = Number(new URL(app.url).port);
    const code = await interrupt(app);
    expect(code, app.output()).toBe(0);
    expect(app.output()).toMatch(/edgewave: stopped after [\d.]+ s: \d+ frames, \d+ windows/);
    await page.waitForFunction(() => document.getElementById('conn')!.dataset.state === 'reconnecting', undefined, { timeout: 10_000 });
    const before = await page.$$eval('.sensor', (els) => els.reduce((n, e) => n + Number((e as HTMLElement).dataset.windows), 0));

    app = await startCli(port);
    await page.waitForFunction(() => document.getElementById('conn')!.dataset.state === 'live', undefined, { timeout: 20_000 });
    await page.waitForFunction((b) => Array.from(document.querySelectorAll<HTMLElement>('.sensor')).reduce((n, e) => n + Number(e.dataset.windows), 0) >= b + 100, before, { timeout: 20_000 });
    await page.close();
    // What the browser showed as errors while the server was away: only the failed reconnections.
    expect(pageErrors.filter((e) => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(e))).toEqual([]);
  }, 90_000);
});
