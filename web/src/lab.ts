// The kernel lab: one sensor's samples (simulated here, or a dropped CSV) through dsp.wasm and the
// activity model (onnxruntime-web) in this page, then the same CSV through the server's kernels and
// model (POST /lab/analyze), and the two compared: features bit for bit, classes one by one.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import * as ort from 'onnxruntime-web/wasm';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import dspScalarUrl from '../../dist/dsp/dsp.wasm?url';
import dspSimdUrl from '../../dist/dsp/dsp.simd.wasm?url';
import { loadDsp, simdSupported, welchPsd, type DspModule } from '../../dsp/src/index.js';
import { ACTIVITIES, Simulator, type SimActivity } from '../../edge/simulator.js';
import { formatImuCsv, parseImuCsv, type ImuSeries } from '../../cloud/model/imu-csv.js';
import { ActivityModel, type Ort } from '../../cloud/model/model.js';
import { analyzeSeries, type SeriesAnalysis } from '../../cloud/model/series.js';
import { ACTIVITY_COLORS, api, base64ToF32, f32ToBase64 } from './client.js';

interface ServerAnalysis {
  sampleRate: number;
  windows: number;
  names: string[];
  starts: number[];
  features: string;
  labels?: string[];
  scores?: string;
  simd: boolean;
  backend: string;
}

/** What the page found, for people (the verdicts) and for the browser tests (window.edgewaveLab). */
interface LabState {
  state: 'loading' | 'ready' | 'running' | 'done' | 'error';
  error?: string;
  /** What was analysed last: the file's name or the simulation's. */
  input?: { name: string; samples: number; sampleRate: number };
  browser?: { windows: number; features: string; labels: string[]; scores: string; simd: boolean; backend: string };
  server?: { windows: number; features: string; labels: string[]; scores: string; simd: boolean; backend: string };
  featuresIdentical?: boolean;
  classesIdentical?: boolean;
}

declare global {
  interface Window {
    edgewaveLab: LabState;
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const lab: LabState = (window.edgewaveLab = { state: 'loading' });

let dsp: DspModule;
let model: ActivityModel;
let series: ImuSeries | null = null;
let browser: SeriesAnalysis | null = null;
let server: ServerAnalysis | null = null;
let picked = 0;
const plots = new Map<string, uPlot>();

function plot(id: string, opts: Omit<uPlot.Options, 'width'>, data: uPlot.AlignedData): void {
  plots.get(id)?.destroy();
  const host = $(id);
  plots.set(id, new uPlot({ ...opts, width: host.clientWidth || 600 }, data, host));
}

function notice(text: string | null): void {
  $('notice').hidden = text === null;
  $('notice').textContent = text ?? '';
}

async function init(): Promise<void> {
  const simd = simdSupported();
  ort.env.wasm.wasmPaths = { wasm: new URL(ortWasmUrl, location.href).href };
  ort.env.wasm.numThreads = 1;
  const [d, bytes] = await Promise.all([
    loadDsp({ source: new URL(simd ? dspSimdUrl : dspScalarUrl, location.href) }),
    api('lab/model.onnx').then(async (r) => new Uint8Array(await r.arrayBuffer())),
  ]);
  dsp = d;
  model = await ActivityModel.load(bytes, { ort: ort as unknown as Ort });
  $('engine').textContent = `${dsp.simd ? 'dsp.simd.wasm' : 'dsp.wasm'} · onnxruntime-web`;
  lab.state = 'ready';
}

/** A simulated sensor doing one activity (a fall comes after some walking). */
function simulate(activity: SimActivity, seconds: number, sampleRate: number, seed: number): ImuSeries {
  const fall = activity === 'fall';
  const sim = new Simulator({
    sensors: 1, sampleRate, seed, dropoutsPerHour: 0,
    start: fall ? 'walking' : activity,
    // Stay in the activity; after a fall, lie still.
    mix: Object.fromEntries(ACTIVITIES.map((a) => [a, a === activity ? 1 : fall && a === 'idle' ? 1e-9 : 0])),
    meanDwellS: fall ? Math.min(4, seconds / 3) : 1e9,
  });
  const count = Math.round(seconds * sampleRate);
  const planar = new Float32Array(6 * count);
  for (let at = 0; at < count; at += 200) {
    const n = Math.min(200, count - at);
    const s = sim.next(n).samples[0]!;
    for (let c = 0; c < 6; c++) planar.set(s.subarray(c * n, (c + 1) * n), c * count + at);
  }
  return { sampleRate, count, samples: planar };
}

/** Bumped by each run: a run that a newer one overtook stops at its next step. */
let generation = 0;

async function run(csv: string, note: string): Promise<void> {
  const mine = ++generation;
  lab.state = 'running';
  lab.input = { name: note, samples: 0, sampleRate: 0 };
  delete lab.featuresIdentical;
  delete lab.classesIdentical;
  for (const id of ['verdict-features', 'verdict-classes']) {
    delete $(id).dataset.state;
    $(id).textContent = `${id === 'verdict-features' ? 'features' : 'classes'}: comparing with the server…`;
  }
  notice(null);
  try {
    series = parseImuCsv(csv);
    const rate = series.sampleRate;
    lab.input = { name: note, samples: series.count, sampleRate: rate };
    $('signal-note').textContent = `${note}: ${series.count} samples at ${rate} Hz`;
    const link = $<HTMLAnchorElement>('download');
    URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    link.hidden = false;
    const analysed = await analyzeSeries(series, { dsp, model });
    if (mine !== generation) return;
    browser = analysed;
    server = null;
    lab.browser = { windows: browser.windows, features: f32ToBase64(browser.features), labels: browser.labels ?? [], scores: f32ToBase64(browser.scores ?? new Float32Array(0)), simd: dsp.simd, backend: model.backend };
    picked = Math.min(picked, Math.max(0, browser.windows - 1));
    drawSignal(series);
    drawWindows();
    drawPicked();
    // The same CSV text through the server's kernels and model.
    const answer = (await (await api('lab/analyze', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv })).json()) as ServerAnalysis;
    if (mine !== generation) return;
    server = answer;
    lab.server = { windows: server.windows, features: server.features, labels: server.labels ?? [], scores: server.scores ?? '', simd: server.simd, backend: server.backend };
    compare();
    drawPicked();
    lab.state = 'done';
  } catch (err) {
    if (mine !== generation) return;
    lab.state = 'error';
    lab.error = (err as Error).message;
    notice((err as Error).message);
  }
}

function compare(): void {
  const b = browser!;
  const s = server!;
  const sf = base64ToF32(s.features);
  const bb = new Uint8Array(b.features.buffer, b.features.byteOffset, b.features.byteLength);
  const sb = new Uint8Array(sf.buffer);
  let differing = 0;
  if (bb.length === sb.length) for (let i = 0; i < b.features.length; i++) if (new DataView(bb.buffer, bb.byteOffset).getUint32(i * 4) !== new DataView(sb.buffer).getUint32(i * 4)) differing++;
  const same = b.windows === s.windows && bb.length === sb.length && differing === 0;
  lab.featuresIdentical = same;
  const vf = $('verdict-features');
  vf.dataset.state = same ? 'match' : 'mismatch';
  vf.textContent = same
    ? `features: identical, bit for bit: ${b.windows} windows x ${b.names.length} features`
    : `features differ: ${b.windows} windows here, ${s.windows} on the server; ${differing} values not equal`;
  const bl = b.labels ?? [];
  const sl = s.labels ?? [];
  const agree = bl.length === sl.length && bl.every((l, i) => l === sl[i]);
  lab.classesIdentical = agree;
  let maxDelta = 0;
  if (b.scores && s.scores) {
    const ss = base64ToF32(s.scores);
    for (let i = 0; i < Math.min(ss.length, b.scores.length); i++) maxDelta = Math.max(maxDelta, Math.abs(ss[i]! - b.scores[i]!));
  }
  const vc = $('verdict-classes');
  vc.dataset.state = agree ? 'match' : 'mismatch';
  vc.textContent = agree
    ? `classes: the same for all ${bl.length} windows (largest score difference ${maxDelta.toExponential(1)})`
    : `classes differ in ${bl.filter((l, i) => l !== sl[i]).length} of ${bl.length} windows`;
  $('engines').textContent = `browser: ${dsp.simd ? 'dsp.simd.wasm' : 'dsp.wasm'}, ${model.backend}; server: ${s.simd ? 'dsp.simd.wasm' : 'dsp.wasm'}, ${s.backend}`;
}

function drawSignal(s: ImuSeries): void {
  // At most ~4,000 points a line: every k-th sample.
  const k = Math.max(1, Math.ceil(s.count / 4000));
  const idx = Array.from({ length: Math.ceil(s.count / k) }, (_, i) => i * k);
  const t = idx.map((i) => i / s.sampleRate);
  const ch = (c: number) => idx.map((i) => s.samples[c * s.count + i]!);
  const colors = ['#e03131', '#2f9e44', '#4263eb'];
  const opts = (unit: string, names: string[]): Omit<uPlot.Options, 'width'> => ({
    height: 170,
    scales: { x: { time: false } },
    axes: [{ label: 's' }, { label: unit, size: 55 }],
    series: [{ label: 't' }, ...names.map((n, i) => ({ label: n, stroke: colors[i]!, width: 1 }))],
  });
  plot('signal-acc', opts('m/s²', ['ax', 'ay', 'az']), [t, ch(0), ch(1), ch(2)]);
  plot('signal-gyro', opts('rad/s', ['gx', 'gy', 'gz']), [t, ch(3), ch(4), ch(5)]);
}

function drawWindows(): void {
  const host = $('windows');
  const b = browser!;
  host.replaceChildren(
    ...b.starts.map((start, i) => {
      const btn = document.createElement('button');
      const label = b.labels?.[i] ?? '?';
      btn.textContent = `${(start / b.sampleRate).toFixed(1)}s ${label}`;
      btn.style.background = ACTIVITY_COLORS[label] ?? '#868e96';
      btn.setAttribute('aria-pressed', String(i === picked));
      btn.onclick = () => {
        picked = i;
        drawWindows();
        drawPicked();
      };
      return btn;
    }),
  );
  if (!b.windows) host.textContent = `no window: a window needs ${b.window} samples`;
}

function drawPicked(): void {
  const b = browser!;
  const table = $('features');
  if (!b.windows || !series) {
    table.replaceChildren();
    return;
  }
  const w = b.names.length;
  const start = b.starts[picked]!;
  // Spectrum of the acceleration magnitude over the window.
  const mag = new Float64Array(b.window);
  for (let i = 0; i < b.window; i++) {
    const at = start + i;
    const x = series.samples[at]!, y = series.samples[series.count + at]!, z = series.samples[2 * series.count + at]!;
    mag[i] = Math.hypot(x, y, z);
  }
  const psd = welchPsd(mag, b.window, b.sampleRate);
  const freqs = Array.from(psd, (_, i) => (i * b.sampleRate) / b.window);
  plot('spectrum', {
    height: 170,
    scales: { x: { time: false } },
    axes: [{ label: 'Hz' }, { label: 'dB re 1 (m/s²)²/Hz', size: 60 }],
    series: [{ label: 'f (Hz)' }, { label: 'PSD (dB)', stroke: '#7048e8', width: 1.5, points: { show: false } }],
  }, [freqs, Array.from(psd, (v) => 10 * Math.log10(Math.max(v, 1e-12)))]);
  $('spectrum-note').textContent = `acceleration magnitude, window ${picked + 1} (samples ${start}–${start + b.window - 1}), Welch PSD`;
  const sf = server ? base64ToF32(server.features) : null;
  const rows = b.names.map((name, f) => {
    const mine = b.features[picked * w + f]!;
    const theirs = sf?.[picked * w + f];
    const same = theirs !== undefined && Object.is(Math.fround(mine), Math.fround(theirs));
    const tr = document.createElement('tr');
    tr.innerHTML = '<td></td><td></td><td></td><td></td>';
    const cells = tr.children;
    cells[0]!.textContent = name;
    cells[1]!.textContent = mine.toPrecision(7);
    cells[2]!.textContent = theirs === undefined ? '…' : theirs.toPrecision(7);
    cells[3]!.textContent = theirs === undefined ? '' : same ? 'identical' : 'differs';
    cells[3]!.className = same ? 'same' : 'diff';
    return tr;
  });
  const head = document.createElement('tr');
  head.innerHTML = '<th>feature</th><th>browser (dsp.wasm)</th><th>server (Node)</th><th></th>';
  table.replaceChildren(head, ...rows);
}

function readFile(file: File): void {
  void file.text().then((text) => run(text, file.name));
}

async function main(): Promise<void> {
  try {
    await init();
  } catch (err) {
    lab.state = 'error';
    lab.error = (err as Error).message;
    notice(`the lab cannot start: ${(err as Error).message}`);
    return;
  }
  const simulateNow = () => {
    const activity = $<HTMLSelectElement>('activity').value as SimActivity;
    const seconds = Number($<HTMLInputElement>('seconds').value);
    const rate = Number($<HTMLInputElement>('rate').value);
    const seed = Number($<HTMLInputElement>('seed').value);
    const s = simulate(activity, seconds, rate, seed);
    // The CSV text is the input of both sides: what is simulated here goes to the server as text too.
    void run(formatImuCsv(s), `simulated ${activity}, seed ${seed}`);
  };
  $('simulate').onclick = simulateNow;
  $<HTMLInputElement>('file').onchange = (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) readFile(f);
  };
  const drop = $('drop');
  drop.ondragover = (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const f = ev.dataTransfer?.files[0];
    if (f) readFile(f);
  };
  simulateNow();
}

void main();
