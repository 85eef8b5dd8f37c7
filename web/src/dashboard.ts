// The live dashboard: every sensor's activity, confidence and a sparkline of its movement; groups and
// their sessions; the pipeline's throughput and end-to-end latency. Fed by /ws (inferences,
// sessions, gateway status), started from /sensors and /sessions, reconnecting by itself.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { featureLayout } from '../../dsp/src/layout.js';
import { parseFeatureConfig, presetSettings } from '../../dsp/src/config.js';
import { ACTIVITY_COLORS, ApiFailure, LiveSocket, apiJson, base64ToF32, setApiKey, type LiveMessage, type LiveState } from './client.js';

/** Windows kept per sparkline. */
const SPARK = 60;
/** The feature the sparklines draw. */
const SPARK_FEATURE = 'acc.mag_std';
const TIMELINE_S = 600;

interface InferenceMsg {
  sensorId: string;
  gatewayId: string;
  group: string;
  t0: number;
  t1: number;
  sampleRate: number;
  layoutId: number;
  features: string;
  label?: string;
  confidence?: number | null;
}

interface SessionLite {
  sessionId: string;
  group: string;
  status: 'active' | 'ended';
  start: number;
  end: number | null;
  updatedAt: number;
  dominant: string;
  sensors: number;
}

interface SensorCard {
  id: string;
  group: string;
  label: string;
  confidence: number | null;
  windows: number;
  xs: number[];
  ys: number[];
  el: HTMLElement;
  labelEl: HTMLElement;
  confEl: HTMLElement;
  plot: uPlot | null;
  dirty: boolean;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const sensors = new Map<string, SensorCard>();
const sessions = new Map<string, SessionLite>();
const gateways = new Map<string, string>();
let windowsThisSecond = 0;
/** Windows counted in each of the last 5 seconds: windows arrive in bursts, one per sensor per hop. */
const lastSeconds: number[] = [];
const latencies: { at: number; ms: number }[] = [];
const history: { t: number[]; rate: number[]; p99: number[] } = { t: [], rate: [], p99: [] };

// Which feature of a layout the sparklines draw: the uplink preset at the record's rate, by layout id.
const sparkIndex = new Map<number, number>();
function sparkFeature(layoutId: number, sampleRate: number): number {
  let i = sparkIndex.get(layoutId);
  if (i === undefined) {
    const layout = featureLayout(parseFeatureConfig({ ...presetSettings('uplink'), sampleRate }));
    sparkIndex.set(layout.id, layout.features.findIndex((f) => f.name === SPARK_FEATURE));
    i = sparkIndex.get(layoutId) ?? -1;
    sparkIndex.set(layoutId, i);
  }
  return i;
}

function card(id: string, group: string): SensorCard {
  let c = sensors.get(id);
  if (c) return c;
  const el = document.createElement('article');
  el.className = 'sensor';
  el.dataset.sensor = id;
  el.dataset.group = group;
  el.dataset.windows = '0';
  el.innerHTML = '<header><span class="id"></span><span class="group"></span></header><div class="state"><span class="label">…</span><span class="conf"></span></div><div class="spark"></div>';
  el.querySelector('.id')!.textContent = id;
  el.querySelector('.group')!.textContent = group;
  c = { id, group, label: '', confidence: null, windows: 0, xs: [], ys: [], el, labelEl: el.querySelector('.label')!, confEl: el.querySelector('.conf')!, plot: null, dirty: true };
  sensors.set(id, c);
  // Keep the grid in sensor order.
  const grid = $('sensors');
  const after = Array.from(grid.children).find((x) => ((x as HTMLElement).dataset.sensor ?? '').localeCompare(id, undefined, { numeric: true }) > 0);
  grid.insertBefore(el, after ?? null);
  return c;
}

function onInference(r: InferenceMsg): void {
  const c = card(r.sensorId, r.group);
  c.windows++;
  if (r.label !== undefined) {
    c.label = r.label;
    c.confidence = r.confidence ?? null;
  }
  const i = sparkFeature(r.layoutId, r.sampleRate);
  if (i >= 0) {
    const v = base64ToF32(r.features)[i];
    if (v !== undefined && Number.isFinite(v)) {
      c.xs.push(r.t1 / 1e6);
      c.ys.push(v);
      if (c.xs.length > SPARK) {
        c.xs.shift();
        c.ys.shift();
      }
    }
  }
  c.dirty = true;
  windowsThisSecond++;
  const ms = Date.now() - r.t1 / 1000;
  // Windows read back as current state are older; only live ones count towards latency.
  if (ms < 30_000) latencies.push({ at: Date.now(), ms });
}

function sessionLite(s: Record<string, unknown>): SessionLite {
  const sensorsOf = s.sensors as unknown[] | Record<string, unknown>;
  return {
    sessionId: s.sessionId as string,
    group: s.group as string,
    status: s.status as 'active' | 'ended',
    start: s.start as number,
    end: (s.end as number | null) ?? null,
    updatedAt: s.updatedAt as number,
    dominant: s.dominant as string,
    sensors: Array.isArray(sensorsOf) ? sensorsOf.length : Object.keys(sensorsOf ?? {}).length,
  };
}

function onMessage(m: LiveMessage): void {
  if (m.type === 'inferences') onInference(m.data as InferenceMsg);
  else if (m.type === 'sessions') {
    const s = sessionLite((m.data as { session: Record<string, unknown> }).session);
    sessions.set(s.sessionId, s);
  } else if (m.type === 'status') {
    const d = m.data as { gatewayId?: string; state?: string };
    if (d.gatewayId) gateways.set(d.gatewayId, d.state ?? 'online');
  } else if (m.type === 'dropped') notice(`the server dropped ${m.count} messages this page was too slow to take`);
  else if (m.type === 'error') notice(`${m.code}: ${m.message}`);
}

function notice(text: string | null, withKeyForm = false): void {
  const n = $('notice');
  n.hidden = text === null;
  n.textContent = text ?? '';
  if (withKeyForm) {
    const form = document.createElement('form');
    form.innerHTML = '<input name="key" type="password" placeholder="API key (read scope)" autocomplete="off"><button>Use key</button>';
    form.onsubmit = (ev) => {
      ev.preventDefault();
      setApiKey((form.elements.namedItem('key') as HTMLInputElement).value.trim());
      location.reload();
    };
    n.append(form);
  }
}

function setConnection(s: LiveState, detail?: string): void {
  const pill = $('conn');
  pill.dataset.state = s;
  pill.textContent = s === 'live' ? 'live' : s;
  pill.title = detail ?? '';
}

function spark(c: SensorCard): void {
  const host = c.el.querySelector<HTMLElement>('.spark')!;
  if (!c.plot) {
    c.plot = new uPlot(
      {
        width: host.clientWidth || 180,
        height: 42,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        // From 0, and at least 1 m/s² tall: a sensor at rest stays flat instead of scaling its noise up.
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [{}, { stroke: () => ACTIVITY_COLORS[c.label] ?? '#4263eb', width: 1.5, fill: () => `${ACTIVITY_COLORS[c.label] ?? '#4263eb'}22`, points: { show: false } }],
      },
      [c.xs, c.ys],
      host,
    );
  } else c.plot.setData([c.xs, c.ys]);
}

function drawSensors(): void {
  let live = 0;
  for (const c of sensors.values()) {
    if (c.windows >= 2) live++;
    if (!c.dirty) continue;
    c.dirty = false;
    c.el.dataset.windows = String(c.windows);
    c.el.dataset.label = c.label;
    c.labelEl.textContent = c.label || '…';
    c.labelEl.style.background = ACTIVITY_COLORS[c.label] ?? '#adb5bd';
    c.confEl.textContent = c.confidence === null ? '' : `${(c.confidence * 100).toFixed(0)}%`;
    if (c.xs.length >= 2) spark(c);
  }
  document.body.dataset.sensorsLive = String(live);
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);

let throughput: uPlot | null = null;
function tick(): void {
  const now = Date.now();
  while (latencies.length && latencies[0]!.at < now - 10_000) latencies.shift();
  const sorted = latencies.map((l) => l.ms).sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  const p99 = quantile(sorted, 0.99);
  $('n-sensors').textContent = String(sensors.size);
  lastSeconds.push(windowsThisSecond);
  if (lastSeconds.length > 5) lastSeconds.shift();
  const rate = lastSeconds.reduce((a, b) => a + b, 0) / lastSeconds.length;
  $('n-rate').textContent = rate.toFixed(0);
  $('n-p50').textContent = Number.isNaN(p50) ? '–' : p50.toFixed(0);
  $('n-p99').textContent = Number.isNaN(p99) ? '–' : p99.toFixed(0);
  $('n-gateways').textContent = String([...gateways.values()].filter((s) => s === 'online').length);
  history.t.push(now / 1000);
  history.rate.push(rate);
  history.p99.push(Number.isNaN(p99) ? (null as unknown as number) : p99);
  if (history.t.length > 120) for (const a of [history.t, history.rate, history.p99]) a.shift();
  windowsThisSecond = 0;
  const host = $('throughput');
  if (!throughput) {
    throughput = new uPlot(
      {
        width: host.clientWidth || 480,
        height: 160,
        legend: { show: true },
        scales: { ms: { auto: true } },
        series: [{}, { label: 'windows/s (5 s mean)', stroke: '#4263eb', width: 1.5, points: { show: false } }, { label: 'latency p99 (ms)', stroke: '#e8590c', width: 1.5, scale: 'ms', points: { show: false } }],
        axes: [{}, { label: 'windows/s', size: 50 }, { side: 1, scale: 'ms', label: 'ms', grid: { show: false } }],
      },
      [history.t, history.rate, history.p99],
      host,
    );
  } else throughput.setData([history.t, history.rate, history.p99]);
  drawGroups();
  drawTimeline(now);
}

function groupsKnown(): string[] {
  const g = new Set<string>();
  for (const c of sensors.values()) g.add(c.group);
  for (const s of sessions.values()) g.add(s.group);
  return [...g].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

function drawGroups(): void {
  const host = $('groups');
  const active = [...sessions.values()].filter((s) => s.status === 'active');
  $('n-active').textContent = String(active.length);
  host.replaceChildren(
    ...groupsKnown().map((g) => {
      const el = document.createElement('div');
      el.className = 'group';
      el.dataset.group = g;
      const members = [...sensors.values()].filter((c) => c.group === g);
      const moving = members.filter((c) => c.label && c.label !== 'idle').length;
      const s = active.find((x) => x.group === g);
      el.innerHTML = `<h3></h3><p class="members"></p><p class="session"></p>`;
      el.querySelector('h3')!.textContent = g;
      el.querySelector('.members')!.textContent = `${members.length} sensors, ${moving} moving`;
      const p = el.querySelector<HTMLElement>('.session')!;
      if (s) {
        p.textContent = `session since ${new Date(s.start / 1000).toLocaleTimeString()}: ${s.dominant}, ${s.sensors} sensors`;
        p.style.borderColor = ACTIVITY_COLORS[s.dominant] ?? '#4263eb';
        el.dataset.active = 'true';
      } else p.textContent = 'no active session';
      return el;
    }),
  );
}

function drawTimeline(now: number): void {
  const host = $('timeline');
  const from = now - TIMELINE_S * 1000;
  host.replaceChildren(
    ...groupsKnown().map((g) => {
      const row = document.createElement('div');
      row.className = 'row';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = g;
      const lane = document.createElement('div');
      lane.className = 'lane';
      for (const s of sessions.values()) {
        if (s.group !== g) continue;
        const start = s.start / 1000;
        const end = s.status === 'active' ? now : (s.end ?? s.updatedAt) / 1000;
        if (end < from) continue;
        const bar = document.createElement('span');
        bar.className = `span ${s.status}`;
        bar.style.left = `${(Math.max(0, start - from) / (TIMELINE_S * 1000)) * 100}%`;
        bar.style.width = `${Math.max(0.3, ((end - Math.max(start, from)) / (TIMELINE_S * 1000)) * 100)}%`;
        bar.style.background = ACTIVITY_COLORS[s.dominant] ?? '#4263eb';
        bar.title = `${s.sessionId}: ${s.dominant}, ${s.sensors} sensors, ${s.status}`;
        lane.append(bar);
      }
      row.append(name, lane);
      return row;
    }),
  );
}

async function loadSessions(): Promise<void> {
  const page = await apiJson<{ items: Record<string, unknown>[] }>('sessions?limit=200');
  for (const s of page.items) {
    const x = sessionLite(s);
    const had = sessions.get(x.sessionId);
    if (!had || had.updatedAt <= x.updatedAt) sessions.set(x.sessionId, x);
  }
}

async function start(): Promise<void> {
  try {
    const known = await apiJson<{ items: { sensorId: string; group: string; label?: string; confidence?: number | null }[] }>('sensors');
    for (const s of known.items) {
      const c = card(s.sensorId, s.group);
      if (s.label) {
        c.label = s.label;
        c.confidence = s.confidence ?? null;
      }
    }
    await loadSessions();
  } catch (err) {
    if (err instanceof ApiFailure && (err.status === 401 || err.status === 403)) {
      notice(`${err.code}: ${err.message}`, true);
      return;
    }
    notice(`the API did not answer (${(err as Error).message}); retrying`);
    setTimeout(() => void start(), 3000);
    return;
  }
  notice(null);
  new LiveSocket({ id: 'dashboard', kinds: ['inferences', 'sessions', 'status'] }, onMessage, setConnection);
  setInterval(drawSensors, 250);
  setInterval(tick, 1000);
  // Ended sessions and those this page missed while reconnecting.
  setInterval(() => void loadSessions().catch(() => {}), 15_000);
}

void start();
