// `npm start`'s build: each step of `npm run build` runs only when an input is newer than its
// output, so a second start (or a start right after `npm install`, which builds) begins at once.
// `npm run build` always runs every step.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);

/** Newest modification time under these paths (files or directories), ignoring node_modules. */
function newest(paths) {
  let t = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) {
      for (const e of readdirSync(p)) if (e !== 'node_modules') walk(join(p, e));
    } else t = Math.max(t, s.mtimeMs);
  };
  paths.forEach(walk);
  return t;
}

/** Oldest modification time of these files; 0 when one is missing. */
function oldest(files) {
  let t = Infinity;
  for (const f of files) {
    if (!existsSync(f)) return 0;
    t = Math.min(t, statSync(f).mtimeMs);
  }
  return t;
}

const steps = [
  { name: 'dsp.wasm', script: 'build:wasm', inputs: ['dsp/assembly', 'asconfig.json', 'package-lock.json'], outputs: ['dist/dsp/dsp.wasm', 'dist/dsp/dsp.simd.wasm'] },
  { name: 'dist/ (tsc)', script: null, cmd: ['npx', 'tsc', '-p', 'tsconfig.build.json'], inputs: ['protocol', 'edge', 'cloud', 'dsp/src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'], outputs: ['dist/cloud/embedded/start-cli.js', 'dist/edge/agent.js', 'dist/dsp/src/index.js'] },
  { name: 'web app', script: 'build:web', inputs: ['web', 'dsp/src', 'cloud/model', 'edge/simulator.ts', 'edge/imu-signal.ts', 'protocol', 'dist/dsp/dsp.wasm', 'dist/dsp/dsp.simd.wasm', 'package-lock.json'], outputs: ['dist/web/index.html', 'dist/web/lab.html'] },
];

for (const s of steps) {
  if (newest(s.inputs) <= oldest(s.outputs)) {
    console.log(`[build] ${s.name}: up to date`);
    continue;
  }
  console.log(`[build] ${s.name}: building`);
  const [cmd, ...args] = s.cmd ?? ['npm', 'run', '--silent', s.script];
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[build] ${s.name} failed (exit ${r.status ?? r.signal}); \`npm run build\` shows the whole build`);
    process.exit(r.status ?? 1);
  }
}
