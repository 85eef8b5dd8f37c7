// The same .wasm bytes give the same features in a browser tab as in Node, to the bit: the page is
// bundled by Vite, served from 127.0.0.1, and run in Chromium (playwright-core) with both builds.

import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureExtractor, loadDsp, parseFeatureConfig } from '../../dsp/src/index.js';
import { ImuSignal } from '../../edge/imu-signal.js';
import { servers, uniqueName } from '../config.js';
import type { BrowserRun } from './browser/page.js';

const settings = servers().chromium;
const root = new URL('../..', import.meta.url).pathname;

const CONFIG = parseFeatureConfig({
  sampleRate: 200,
  capacity: 1,
  derived: [{ name: 'gravity_az', from: 'az' }],
  filters: [
    { type: 'lowpass', channels: ['gravity_az'], cutoff: 0.3 },
    { type: 'highpass', channels: ['az'], cutoff: 0.3 },
  ],
});
const SIGNAL = new ImuSignal(200, 'running', 77).next(200 * 12);

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

describe.runIf(settings)('dsp in Chromium', () => {
  const outDir = join(tmpdir(), uniqueName('edgewave-browser'));
  let server: Server;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    await build({ root: join(root, 'test/dsp/browser'), configFile: false, logLevel: 'error', build: { outDir, emptyOutDir: true } });
    const files: Record<string, () => Promise<Uint8Array | string>> = {
      '/dsp.wasm': () => readFile(join(root, 'dist/dsp/dsp.wasm')),
      '/dsp.simd.wasm': () => readFile(join(root, 'dist/dsp/dsp.simd.wasm')),
      '/signal.bin': async () => new Uint8Array(SIGNAL.buffer),
      '/config.json': async () => JSON.stringify(CONFIG),
    };
    server = createServer((req, res) => {
      const requested = new URL(req.url ?? '/', 'http://x').pathname;
      const path = requested === '/' ? '/index.html' : requested;
      const file = files[path] ?? (() => readFile(join(outDir, path)));
      file().then(
        (body) => {
          res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
          res.end(body);
        },
        () => {
          res.writeHead(404);
          res.end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: settings!.executablePath, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await rm(outDir, { recursive: true, force: true });
  });

  it('computes the same bits as Node, in the SIMD and the scalar build', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(url);
    const runs = (await page.evaluate(() => window.edgewave)) as BrowserRun[];
    expect(errors).toEqual([]);
    expect(runs.map((r) => r.simd)).toEqual([true, false]);
    const nodeRuns = await Promise.all(
      [true, false].map(async (simd) => {
        const ex = new FeatureExtractor(await loadDsp({ simd }), CONFIG);
        const w = ex.push([{ slot: 0, samples: SIGNAL }]);
        return { layoutId: ex.layout.id, starts: Array.from(w.starts), bytes: Buffer.from(w.features.buffer, w.features.byteOffset, w.features.byteLength) };
      }),
    );
    expect(nodeRuns[0]!.starts.length).toBe(Math.floor((SIGNAL.length / 6 - 256) / 128) + 1);
    runs.forEach((r, i) => {
      const node = nodeRuns[i]!;
      expect(r.layoutId).toBe(node.layoutId);
      expect(r.starts).toEqual(node.starts);
      const bytes = Buffer.from(r.features, 'base64');
      expect(bytes.length).toBe(node.bytes.length);
      expect(bytes.equals(node.bytes), `${r.simd ? 'SIMD' : 'scalar'} build: browser and Node differ`).toBe(true);
    });
    // And the two builds agree with each other there too.
    expect(runs[0]!.features).toBe(runs[1]!.features);
  }, 60_000);
});
