// Node-only helpers shared by the edge agent and the cloud components: the /health, /ready and
// /metrics listener, and TLS files for MQTT clients. Not exported from protocol/index.ts, which
// browsers import too.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './config.js';
import { loadConfigFile } from './config-file.js';
import { EdgewaveError } from './errors.js';

export interface StatusReply {
  status: number;
  type: string;
  body: string;
}

/** A plain HTTP listener for a component's status routes; `onError` turns a bind failure into the component's own error. */
export function listenStatus(host: string, port: number, handle: (path: string) => Promise<StatusReply>, onError: (err: Error) => Error): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    handle(new URL(req.url ?? '/', 'http://x').pathname).then(
      (r) => {
        res.writeHead(r.status, { 'content-type': r.type });
        res.end(r.body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(onError(err)));
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      resolve({ server, url: `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` });
    });
  });
}

export const json = (status: number, value: unknown): StatusReply => ({ status, type: 'application/json', body: JSON.stringify(value) });

export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  rejectUnauthorized?: boolean | undefined;
}

/** The TLS options of an MQTT (or Kafka) client from PEM file paths. */
export function tlsOptions(tls: TlsFiles | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean } {
  if (!tls) return {};
  return {
    ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
    ...(tls.key ? { key: readFileSync(tls.key) } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
}

export interface ComponentCommand<C, H> {
  /** The subcommand, for messages: `edgewave <name>: …`. */
  name: string;
  configFile: string | undefined;
  check?: boolean | undefined;
  /** Validates the raw file contents (with environment overrides applied). */
  parse: (raw: unknown) => C;
  start: (config: C) => Promise<H>;
  /** The startup line: what runs, and where. */
  describe: (config: C, handle: H) => string;
  /** On SIGTERM or SIGINT. */
  stop: (handle: H, signal: string) => Promise<void>;
  /**
   * How long `stop` may take before the process exits anyway, with code 1 (a stop can wait on a
   * server that is gone: Kafka down, retries without end). Only for components that lose nothing
   * when cut short; none: wait for as long as it takes.
   */
  stopTimeoutMs?: number;
  /** Exits the process (tests pass their own). */
  exit?: (code: number) => void;
}

/**
 * The life of `edgewave <component> --config file`: a bad config (or a start that fails with an
 * edgewave error) exits 2 with the message and its code; `--check` validates and exits 0; otherwise
 * it starts, prints one line saying what it does, runs until SIGTERM or SIGINT, stops, exits 0.
 * A stop that takes longer than `stopTimeoutMs` is given up: it says so and exits 1 (a second
 * signal, with no handler left, ends the process at once).
 */
export async function runComponentCommand<C, H>(c: ComponentCommand<C, H>): Promise<number> {
  const fail = (err: unknown) => {
    if (!(err instanceof EdgewaveError)) throw err;
    console.error(`edgewave ${c.name}: ${err.message} [${err.code}]`);
    return 2;
  };
  let config: C;
  try {
    if (!c.configFile) throw new ConfigError('EW_CONFIG_INVALID', `${c.name} needs --config <file> (YAML or JSON)`);
    config = c.parse(await loadConfigFile(c.configFile));
  } catch (err) {
    return fail(err);
  }
  if (c.check) {
    console.log(`edgewave ${c.name}: ${c.configFile} is valid`);
    return 0;
  }
  let handle: H;
  try {
    handle = await c.start(config);
  } catch (err) {
    return fail(err);
  }
  console.error(`edgewave ${c.name}: ${c.describe(config, handle)}`);
  // The first signal starts the stop; both handlers go, so a second one (either) ends the process.
  const signal = await new Promise<string>((resolve) => {
    const on = (name: string) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(name);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  if (c.stopTimeoutMs === undefined) {
    await c.stop(handle, signal);
    return 0;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), c.stopTimeoutMs)));
  const outcome = await Promise.race([c.stop(handle, signal).then(() => 'stopped' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    console.error(`edgewave ${c.name}: not stopped ${c.stopTimeoutMs! / 1000} s after ${signal} (waiting on a server that does not answer?); exiting without finishing the stop`);
    (c.exit ?? process.exit)(1);
    return 1;
  }
  return 0;
}
