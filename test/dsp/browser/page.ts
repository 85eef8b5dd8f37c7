// Runs in Chromium: loads both builds of the kernels the way a web page does (instantiateStreaming
// from a fetch), computes the features of the signal the test serves, and hands the raw bytes back.

import { FeatureExtractor, loadDsp } from '../../../dsp/src/index.js';

export interface BrowserRun {
  simd: boolean;
  layoutId: number;
  starts: number[];
  /** The feature rows' bytes, base64. */
  features: string;
}

declare global {
  interface Window {
    edgewave?: Promise<BrowserRun[]>;
  }
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

async function run(): Promise<BrowserRun[]> {
  const config = await (await fetch('/config.json')).json();
  const signal = new Float32Array(await (await fetch('/signal.bin')).arrayBuffer());
  const out: BrowserRun[] = [];
  for (const simd of [true, false]) {
    const dsp = await loadDsp({ simd, source: await fetch(simd ? '/dsp.simd.wasm' : '/dsp.wasm') });
    const ex = new FeatureExtractor(dsp, config);
    const w = ex.push([{ slot: 0, samples: signal }]);
    out.push({ simd: dsp.simd, layoutId: ex.layout.id, starts: Array.from(w.starts), features: base64(new Uint8Array(w.features.buffer, w.features.byteOffset, w.features.byteLength)) });
  }
  return out;
}

window.edgewave = run();
