// The processor's S3 archive apart from the processor's thread: in a child process (the default)
// or a worker thread (`archive.runIn`). Encoding Parquet is the heaviest work the processor does:
// about 1 µs a row, a row per sample, so a quarter of a core at 1,000 sensors × 200 Hz, in flushes
// of 8 MB that each took the event loop for 0.3–0.5 s. On the processor's thread every window
// behind such a flush waited for it. Here the archiver (archiver.ts, unchanged: its own consumer
// group, Kafka client and S3 client) runs apart, at a lower CPU priority, and the processor only
// starts it, asks it for its counts and stops it. A child process shares nothing with the
// processor (a worker thread shares its address space and V8's garbage-collector threads, which the
// lower priority does not reach), and it ends when the processor does: it leaves when its channel
// to the processor closes.
//
// This one module is both sides: imported, it exports `startArchiverApart`; loaded as the child or
// the worker (EW_ARCHIVER_CHILD, workerData.kind === WORKER_KIND), it runs the archiver and answers
// the processor's messages.

import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { getPriority, setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLogger, type Logger } from '../../protocol/index.js';
import { presetLayoutNames } from '../../dsp/src/layout.js';
import { autogroupNice, sessionOf, setAutogroupNice } from '../common/autogroup.js';
import { createKafka } from '../common/kafka.js';
import { openObjects } from '../common/objects.js';
import { createS3 } from '../common/s3.js';
import { consumerGroups, type ProcessorConfig } from '../processor/config.js';
import { startArchiver, type ArchiverHandle, type ArchiverOptions, type ArchiverStats } from './archiver.js';

const WORKER_KIND = 'edgewave-archiver';
const CHILD_ENV = 'EW_ARCHIVER_CHILD';

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
type ToWorker = { type: 'start'; config: ProcessorConfig } | { type: 'flushAll'; id: number } | { type: 'stop' };

/** The other side, a worker thread or a child process, as the processor talks to it. */
interface Apart {
  post(msg: ToWorker): void;
  onMessage(fn: (msg: FromWorker) => void): void;
  onError(fn: (err: Error) => void): void;
  onExit(fn: (code: number | null) => void): void;
  end(): Promise<void>;
}

function threadApart(self: string, config: ProcessorConfig): Apart {
  const options = { workerData: { kind: WORKER_KIND, config } };
  // From the TypeScript sources (tests, tsx) the worker first registers tsx's loader (Node 20 does
  // not apply an --import loader to a worker's entry); dist/ is plain JS.
  const tsx = () => pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  const worker = self.endsWith('.ts')
    ? new Worker(`import(${JSON.stringify(tsx())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(self).href)}); })`, { ...options, eval: true })
    : new Worker(self, options);
  return {
    post: (msg) => worker.postMessage(msg),
    onMessage: (fn) => void worker.on('message', fn),
    onError: (fn) => void worker.on('error', fn),
    onExit: (fn) => void worker.on('exit', fn),
    end: () => worker.terminate().then(() => undefined),
  };
}

function processApart(self: string, config: ProcessorConfig): Apart {
  // The processor's node options (its heap's ceiling, say) apply to the child too, but for an
  // inspector, whose port is the processor's; from the TypeScript sources the child loads with tsx.
  const execArgv = self.endsWith('.ts') ? ['--import', 'tsx'] : process.execArgv.filter((a) => !a.startsWith('--inspect'));
  // A session of its own (detached): where Linux groups the CPU by session (autogroup, the default
  // outside a CPU cgroup), a nice value counts only against the processes of the same session, so
  // the child's lower priority would hold against the processor and no one else; in a session of
  // its own it sets that session's priority (see lowerPriority).
  const child: ChildProcess = fork(self, [], { execArgv, env: { ...process.env, [CHILD_ENV]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  child.send({ type: 'start', config } satisfies ToWorker);
  return {
    post: (msg) => {
      if (child.connected) child.send(msg);
    },
    onMessage: (fn) => void child.on('message', (m) => fn(m as FromWorker)),
    onError: (fn) => void child.on('error', fn),
    onExit: (fn) => void child.on('exit', (code) => fn(code)),
    end: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.disconnect();
        // Stopped already; one that does not leave at once is made to.
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

export interface ArchiverApartOptions {
  log: Logger;
  /** The archive's consumer stopped for good, or its process or thread failed. */
  onFatal?: (err: Error) => void;
  /** The archive's consumer is about to be joined to its group again after an outage (for metrics). */
  onRecovering?: (err: Error) => void;
}

/**
 * The archiver's options from the processor's configuration (`archive`, the topics, the group), with
 * the Kafka client, the object store and the callbacks of wherever it runs.
 */
export function archiverOptionsFor(config: ProcessorConfig, io: Pick<ArchiverOptions, 'kafka' | 'objects' | 'log' | 'onFatal' | 'onRecovering'>): ArchiverOptions {
  const archive = config.archive!;
  // Feature names of the layouts the processor knows (every preset at the usual rates), for the columns.
  const namesByLayout = presetLayoutNames();
  return {
    ...io,
    groupId: consumerGroups(config).archive,
    topics: { raw: config.kafka.topics.raw, features: config.kafka.topics.features },
    flushBytes: archive.flushBytes,
    flushMs: archive.flushS * 1000,
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    featureNames: (id, width) => {
      const names = namesByLayout.get(id);
      return names?.length === width ? names : undefined;
    },
  };
}

const zero = (): ArchiverStats => ({ flushes: 0, objects: 0, frames: 0, bytes: 0, duplicates: 0, unreadable: 0 });

/**
 * Starts the archive of `config.archive` in a child process or a worker thread (`how`); resolves
 * once it has joined its group (rejects with its error when it cannot start, as `startArchiver`
 * would).
 */
export function startArchiverApart(config: ProcessorConfig, how: 'process' | 'thread', o: ArchiverApartOptions): Promise<ArchiverHandle> {
  const self = fileURLToPath(import.meta.url);
  const worker = how === 'process' ? processApart(self, config) : threadApart(self, config);
  const what = how === 'process' ? 'the archive process' : 'the archive thread';
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
        if (exited || stopping) return Promise.reject(new Error(`${what} has stopped`));
        const id = ++flushId;
        return new Promise<void>((res, rej) => {
          flushes.set(id, { resolve: res, reject: rej });
          worker.post({ type: 'flushAll', id });
        });
      },
      // Apart, the archive reads Kafka with a client of its own: the log stays when the processor
      // goes, and what the archive has not written is read again by the next one.
      drain: () => Promise.reject(new Error(`${what} reads Kafka, which keeps what it has not archived; drain is for the in-process log`)),
      stop() {
        return (stopping ??= new Promise<void>((res) => {
          stoppedAck = res;
          worker.post({ type: 'stop' });
        }).then(() => worker.end()));
      },
    };
    worker.onMessage((msg: FromWorker) => {
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
          // It did not start: it goes, and the processor says why.
          void worker.end();
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
    worker.onError((err) => {
      if (!started) return reject(err);
      o.log.error({ err: err.message }, `${what} failed`);
      o.onFatal?.(err);
    });
    worker.onExit((code) => {
      exited = true;
      for (const f of flushes.values()) f.reject(new Error(`${what} has stopped`));
      flushes.clear();
      stoppedAck?.();
      if (!started) reject(new Error(`${what} exited (${code}) before it started`));
      else if (!stopping) {
        o.log.error({ code }, `${what} exited`);
        o.onFatal?.(new Error(`${what} exited (${code})`));
      }
    });
  });
}

/** The processor's channel, as the worker or the child sees it. */
interface Channel {
  post(msg: FromWorker): void;
  onMessage(fn: (msg: ToWorker) => void): void;
}

/**
 * The archive can wait, a window cannot: it yields the cores to the processor and to the rest of the
 * pipeline while both want them, and keeps up all the same (it needs a quarter of a core at 1,000 raw
 * sensors and has seconds). Linux keeps a nice value per thread: a worker sets its own thread's; a
 * child sets every thread it has (V8's and libuv's; later ones inherit it), and, where the kernel
 * shares the CPU between sessions (autogroup) rather than between threads, its own session's
 * (`/proc/self/autogroup`): without it the other sessions on the host (a database, a broker, the
 * processor's siblings) would not see the lower priority at all. In a CPU cgroup (a container)
 * autogroup does not apply and the threads' nice values do the work.
 */
function lowerPriority(by: number, how: 'process' | 'thread', log: Logger): void {
  try {
    const nice = Math.min(19, getPriority(0) + by);
    let tids: number[] = [0];
    if (how === 'process') {
      try {
        tids = readdirSync('/proc/self/task').map(Number);
      } catch {
        tids = [0];
      }
    }
    for (const tid of tids) setPriority(tid, nice);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'the archive keeps the processor\'s CPU priority');
    return;
  }
  if (how !== 'process') return;
  // Only a session leader (a child started detached) has a session of its own to lower.
  // Its session starts at nice 0; the processor's may have another: this one goes `by` below it.
  const parent = autogroupNice(process.ppid);
  if (autogroupNice('self') === undefined || parent === undefined) return; // no autogroup in this kernel (or not Linux)
  const nice = Math.min(19, parent + by);
  if (process.pid === sessionOf('self') && !setAutogroupNice('self', nice)) log.warn({ nice }, 'the archive\'s session keeps its CPU priority');
}

/** The other side: the archive of the processor's configuration, run until the processor stops it. */
async function runApart(config: ProcessorConfig, channel: Channel, how: 'process' | 'thread'): Promise<void> {
  const post = (msg: FromWorker) => channel.post(msg);
  const archive = config.archive!;
  const log = createLogger('processor', { level: config.logLevel }).child({ thread: 'archive' });
  if (archive.nice > 0) lowerPriority(archive.nice, how, log);
  const kafka = createKafka(config.kafka, log, { initialRetryTime: 200, maxRetryTime: 5000, retries: 20 });
  let s3: ReturnType<typeof createS3> | undefined;
  let archiver: ArchiverHandle;
  try {
    archiver = await startArchiver(archiverOptionsFor(config, {
      kafka,
      objects: openObjects(archive.url, () => (s3 ??= createS3(config.s3))),
      onFatal: (err) => post({ type: 'fatal', message: err.message }),
      onRecovering: (err) => post({ type: 'recovering', message: err.message }),
      log,
    }));
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message });
    return;
  }
  const first = archiver.stats();
  let last = JSON.stringify(first);
  post({ type: 'ready', stats: first });
  // The counts go to the processor when they change (its /metrics and stats read them there).
  const timer = setInterval(() => {
    const stats = archiver.stats();
    const now = JSON.stringify(stats);
    if (now !== last) {
      last = now;
      post({ type: 'stats', stats });
    }
  }, 500);
  channel.onMessage((msg: ToWorker) => {
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
  const port = parentPort!;
  void runApart((workerData as { config: ProcessorConfig }).config, { post: (m) => port.postMessage(m), onMessage: (fn) => void port.on('message', fn) }, 'thread');
} else if (isMainThread && process.env[CHILD_ENV] === '1' && process.send) {
  // A child: the configuration comes first; the processor gone (its channel closed), it leaves.
  let started = false;
  const listeners: ((msg: ToWorker) => void)[] = [];
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'start' && !started) {
      started = true;
      void runApart(msg.config, { post: (m) => process.send?.(m), onMessage: (fn) => void listeners.push(fn) }, 'process');
    } else for (const fn of listeners) fn(msg);
  });
  process.on('disconnect', () => process.exit(0));
  // The processor stops this one in its own time (a service manager signals every process of the
  // service, and a terminal's Ctrl-C its process group).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});
}
