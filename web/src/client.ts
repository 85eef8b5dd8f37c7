// The pages' side of the API: REST with the API key (when the deployment needs one), and the live
// socket, which reconnects by itself with growing pauses and subscribes again each time.

const KEY_STORE = 'edgewave.apiKey';

/** The API key: ?key= in the page's URL (kept for later visits), else the one kept. */
export function apiKey(): string | null {
  const fromUrl = new URLSearchParams(location.search).get('key');
  if (fromUrl) localStorage.setItem(KEY_STORE, fromUrl);
  return fromUrl ?? localStorage.getItem(KEY_STORE);
}

export function setApiKey(key: string): void {
  localStorage.setItem(KEY_STORE, key);
}

export class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** fetch() against the API, with its key; an error answer throws its `{ code, message }`. */
export async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const key = apiKey();
  const r = await fetch(new URL(path, location.href), { ...init, headers: { ...(key ? { 'x-api-key': key } : {}), ...(init.headers as Record<string, string> | undefined) } });
  if (!r.ok) {
    const body = (await r.json().catch(() => ({}))) as { code?: string; message?: string };
    throw new ApiFailure(r.status, body.code ?? `HTTP_${r.status}`, body.message ?? r.statusText);
  }
  return r;
}

export const apiJson = async <T>(path: string, init: RequestInit = {}): Promise<T> => (await api(path, init)).json() as Promise<T>;

export type LiveState = 'connecting' | 'live' | 'reconnecting';

export interface LiveMessage {
  type: string;
  data?: unknown;
  count?: number;
  code?: string;
  message?: string;
}

/** The /ws socket: subscribes on every (re)connection and hands each message on. */
export class LiveSocket {
  private ws: WebSocket | null = null;
  private attempts = 0;
  private closed = false;
  /** Connections made so far (1 after the first). */
  connections = 0;

  constructor(
    private readonly subscription: Record<string, unknown>,
    private readonly onMessage: (m: LiveMessage) => void,
    private readonly onState: (s: LiveState, detail?: string) => void,
  ) {
    this.connect();
  }

  private connect(): void {
    const url = new URL('ws', new URL('/', location.href));
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const key = apiKey();
    if (key) url.searchParams.set('key', key);
    this.onState(this.connections ? 'reconnecting' : 'connecting');
    const ws = (this.ws = new WebSocket(url));
    ws.onopen = () => {
      this.attempts = 0;
      this.connections++;
      ws.send(JSON.stringify({ op: 'subscribe', ...this.subscription }));
      this.onState('live');
    };
    ws.onmessage = (ev) => {
      try {
        this.onMessage(JSON.parse(ev.data as string) as LiveMessage);
      } catch (err) {
        console.error('edgewave: a live message could not be handled', err);
      }
    };
    ws.onclose = (ev) => {
      this.ws = null;
      if (this.closed) return;
      // 0.5 s, 1 s, 2 s ... at most 10 s between attempts.
      const wait = Math.min(10_000, 500 * 2 ** this.attempts++);
      this.onState('reconnecting', `closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''}); again in ${(wait / 1000).toFixed(1)} s`);
      setTimeout(() => this.connect(), wait);
    };
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
  }
}

/** Float32 values from the base64 the API sends them as. */
export function base64ToF32(s: string): Float32Array {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

export function f32ToBase64(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export const ACTIVITY_COLORS: Record<string, string> = {
  idle: '#8a94a6',
  walking: '#2f9e44',
  running: '#e8590c',
  jumping: '#7048e8',
  fall: '#e03131',
};
