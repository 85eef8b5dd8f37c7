// Builds the gateway bundle: one ESM file with every dependency inside, and the two .wasm builds
// beside it, in dist/edge-bundle/. Runs with plain `node` (>= 20.19), no node_modules, no native
// addon, so it works on ARM gateways as well as x86.

import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const out = `${root}dist/edge-bundle`;
mkdirSync(out, { recursive: true });
const started = Date.now();
await build({
  entryPoints: [`${root}edge/main.ts`],
  outfile: `${out}/edgewave-edge.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  sourcemap: false,
  legalComments: 'linked',
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __ewCreateRequire } from 'node:module'; const require = __ewCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
for (const f of ['dsp.wasm', 'dsp.simd.wasm']) copyFileSync(`${root}dist/dsp/${f}`, `${out}/${f}`);
const kib = (f) => (statSync(`${out}/${f}`).size / 1024).toFixed(0);
console.error(`dist/edge-bundle: edgewave-edge.mjs ${kib('edgewave-edge.mjs')} KiB, dsp.wasm ${kib('dsp.wasm')} KiB, dsp.simd.wasm ${kib('dsp.simd.wasm')} KiB (${Date.now() - started} ms)`);
