// The processor's S3 archive on a thread of its own. Encoding Parquet is the heaviest work the
// processor process does: about 1 µs a row, a row per sample, so a third of a core at 1,000 sensors
// × 200 Hz, in flushes of 8 MB that each took the event loop for 0.3–0.5 s. On the processor's
// thread every window behind such a flush waited for it. Here the archiver (archiver.ts, unchanged:
// its own consumer group, Kafka client and S3 client) runs in a worker thread, and the processor's
// thread only starts it, asks it for its counts and stops it.
//
// This one module is both sides: imported, it exports `startArchiverThread`; loaded as the worker
// (workerData.kind === WORKER_KIND), it runs the archiver and answers the processor's messages.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLogger, type Logger } from '../../protocol/index.js';
import { presetLayoutNames } from '../../dsp/src/layout.js';
import { createKafka } from '../common/kafka.js';
import { openObjects } from '../common/objects.js';
import { createS3 } from '../common/s3.js';
import type { ProcessorConfig } from '../processor/config.js';
import { startArchiver, type ArchiverHandle, type ArchiverStats } from './archiver.js';

const WORKER_KIND = 'edgewave-archiver';

/** What the worker posts. */
type FromWorker =
  | { type: 'ready'; stats: ArchiverStats }
  | { type: 'stats'; stats: ArchiverStats }
  | { type: 'flushed'; id: number; stats: ArchiverStats; error?: string }
  | { type: 'stopped' }
  | { type: 'failed'; message: string }
  | { type: 'fatal'; message: string }
  | { type: 'recovering'; message: string };

/** What the processor posts. */
type ToWorker = { type: 'flushAll'; id: number } | { type: 'stop' };

export interface ArchiverThreadOptions {
  log: Logger;
  /** The archive's consumer stopped for good, or the thread itself failed. */
  onFatal?: (err: Error) => void;
  /** The archive's consumer is about to be joined to its group again after an outage (for metrics). */
  onRecovering?: (err: Error) => void;
}

const zero = (): ArchiverStats => ({ flushes: 0, objects: 0, frames: 0, bytes: 0, duplicates: 0, unreadable: 0 });

/**
 * Starts the archive of `config.archive` in a worker thread; resolves once it has joined its group
 * (rejects with the worker's error when it cannot start, as `startArchiver` would).
 */
export function startArchiverThread(config: ProcessorConfig, o: ArchiverThreadOptions): Promise<ArchiverHandle> {
  const self = fileURLToPath(import.meta.url);
  const workerOptions = { workerData: { kind: WORKER_KIND, config } };
  // From the TypeScript sources (tests, tsx) the worker first registers tsx's loader (Node 20 does
  // not apply an --import loader to a worker's entry); dist/ is plain JS.
  const worker = self.endsWith('.ts')
    ? new Worker(`import(${JSON.stringify(pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`, { ...workerOptions, eval: true })
    : new Worker(self, workerOptions);
  let stats = zero();
  let stopping: Promise<void> | undefined;
  let flushId = 0;
  const flushes = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let stoppedAck: (() => void) | undefined;
  let exited = false;

  return new Promise<ArchiverHandle>((resolve, reject) => {
    let started = false;
    const handle: ArchiverHandle = {
      stats: () => ({ ...stats }),
      flushAll() {
        if (exited || stopping) return Promise.reject(new Error('the archive thread has stopped'));
        const id = ++flushId;
        return new Promise<void>((res, rej) => {
          flushes.set(id, { resolve: res, reject: rej });
          worker.postMessage({ type: 'flushAll', id } satisfies ToWorker);
        });
      },
      stop() {
        return (stopping ??= new Promise<void>((res) => {
          stoppedAck = res;
          worker.postMessage({ type: 'stop' } satisfies ToWorker);
        }).then(() => worker.terminate().then(() => undefined)));
      },
    };
    worker.on('message', (msg: FromWorker) => {
      switch (msg.type) {
        case 'ready':
          started = true;
          stats = msg.stats;
          resolve(handle);
          break;
        case 'stats':
          stats = msg.stats;
          break;
        case 'flushed': {
          stats = msg.stats;
          const f = flushes.get(msg.id);
          flushes.delete(msg.id);
          if (msg.error !== undefined) f?.reject(new Error(msg.error));
          else f?.resolve();
          break;
        }
        case 'stopped':
          stoppedAck?.();
          break;
        case 'failed':
          reject(new Error(msg.message));
          break;
        case 'fatal':
          o.onFatal?.(new Error(msg.message));
          break;
        case 'recovering':
          o.onRecovering?.(new Error(msg.message));
          break;
      }
    });
    worker.on('error', (err) => {
      if (!started) return reject(err);
      o.log.error({ err: err.message }, 'the archive thread failed');
      o.onFatal?.(err);
    });
    worker.on('exit', (code) => {
      exited = true;
      for (const f of flushes.values()) f.reject(new Error('the archive thread has stopped'));
      flushes.clear();
      stoppedAck?.();
      if (!started) reject(new Error(`the archive thread exited (${code}) before it started`));
      else if (!stopping) {
        o.log.error({ code }, 'the archive thread exited');
        o.onFatal?.(new Error(`the archive thread exited (${code})`));
      }
    });
  });
}

/** The worker's side: the archive of the processor's configuration, run until the processor stops it. */
async function runWorker(config: ProcessorConfig): Promise<void> {
  const port = parentPort!;
  const post = (msg: FromWorker) => port.postMessage(msg);
  const archive = config.archive!;
  const log = createLogger('processor', { level: config.logLevel }).child({ thread: 'archive' });
  const kafka = createKafka(config.kafka, log, { initialRetryTime: 200, maxRetryTime: 5000, retries: 20 });
  let s3: ReturnType<typeof createS3> | undefined;
  const namesByLayout = presetLayoutNames();
  let archiver: ArchiverHandle;
  try {
    archiver = await startArchiver({
      kafka,
      groupId: archive.groupId ?? `${config.kafka.groupId}-archive`,
      topics: { raw: config.kafka.topics.raw, features: config.kafka.topics.features },
      objects: openObjects(archive.url, () => (s3 ??= createS3(config.s3))),
      flushBytes: archive.flushBytes,
      flushMs: archive.flushS * 1000,
      sessionTimeoutMs: config.kafka.sessionTimeoutMs,
      featureNames: (id, width) => {
        const names = namesByLayout.get(id);
        return names?.length === width ? names : undefined;
      },
      onFatal: (err) => post({ type: 'fatal', message: err.message }),
      onRecovering: (err) => post({ type: 'recovering', message: err.message }),
      log,
    });
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message });
    return;
  }
  let last = JSON.stringify(archiver.stats());
  post({ type: 'ready', stats: archiver.stats() });
  // The counts go to the processor's thread when they change (its /metrics and stats read them there).
  const timer = setInterval(() => {
    const now = JSON.stringify(archiver.stats());
    if (now !== last) {
      last = now;
      post({ type: 'stats', stats: archiver.stats() });
    }
  }, 500);
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'flushAll') {
      archiver.flushAll().then(
        () => post({ type: 'flushed', id: msg.id, stats: archiver.stats() }),
        (err: unknown) => post({ type: 'flushed', id: msg.id, stats: archiver.stats(), error: (err as Error).message }),
      );
    } else if (msg.type === 'stop') {
      clearInterval(timer);
      void archiver.stop().finally(() => post({ type: 'stopped' }));
    }
  });
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === WORKER_KIND) {
  void runWorker((workerData as { config: ProcessorConfig }).config);
}
