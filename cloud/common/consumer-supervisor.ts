// Keeps a kafkajs consumer running through a Kafka outage of any length.
//
// kafkajs restarts a crashed consumer only when the error is retriable. A broker that is away when
// the consumer (re)joins its group makes the group-coordinator lookup fail at once with
// KafkaJSGroupCoordinatorNotFound, which is not retriable: the consumer disconnects and stays
// stopped, with the process still up. Such a crash is an outage, not a fault of this consumer:
// the supervisor connects and runs it again after a pause that doubles up to `maxDelayMs`, and
// starts again from the shortest pause once the consumer is back in its group. Any other crash
// kafkajs does not restart (a bug, refused credentials, a topic it may not read) goes to `onFatal`.

import type { Consumer } from 'kafkajs';
import type { Logger } from '../../protocol/index.js';

/** Errors that mean Kafka could not be reached or had no coordinator yet, by kafkajs's names. */
const OUTAGE_ERRORS = new Set([
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSNumberOfRetriesExceeded',
]);
const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether a consumer crash is Kafka being away (anywhere in the error's chain of causes). */
export function isOutage(err: unknown): boolean {
  for (let e = err as { name?: string; code?: string; retriable?: boolean; cause?: unknown } | undefined, depth = 0; e && depth < 10; e = e.cause as typeof e, depth++) {
    if ((e.name && OUTAGE_ERRORS.has(e.name)) || (e.code && OUTAGE_CODES.has(e.code)) || e.retriable === true) return true;
  }
  return false;
}

export interface SupervisorOptions {
  /** What the consumer is for, in log lines ("processor", "live feed"). */
  name: string;
  log: Logger;
  /** Subscribes if needed and runs the consumer: called again, after connect(), to recover. */
  run: () => Promise<void>;
  /** A crash that is not an outage: the consumer stays stopped. */
  onFatal?: (err: Error) => void;
  /** Called as each recovery begins, with the pause before it (for tests and metrics). */
  onRecovering?: (err: Error, delayMs: number) => void;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export interface Supervisor {
  /** How many times the consumer was run again after an outage. */
  readonly recoveries: number;
  /** No more recoveries: call before disconnecting the consumer. */
  stop(): void;
}

export function superviseConsumer(consumer: Consumer, o: SupervisorOptions): Supervisor {
  const initial = o.initialDelayMs ?? 500;
  const max = o.maxDelayMs ?? 30_000;
  let delay = initial;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let recoveries = 0;

  const again = (err: Error) => {
    const wait = delay;
    delay = Math.min(max, delay * 2);
    o.onRecovering?.(err, wait);
    o.log.error({ err: err.message, retryInMs: wait }, `the ${o.name} Kafka consumer stopped: Kafka is away; it connects and joins its group again in ${wait} ms`);
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      recoveries++;
      // A run that fails to join crashes again (the CRASH event, below); one that cannot connect throws.
      consumer
        .connect()
        .then(() => (stopped ? undefined : o.run()))
        .catch((e: unknown) => {
          if (!stopped) again(e as Error);
        });
    }, wait);
    timer.unref?.();
  };

  consumer.on(consumer.events.GROUP_JOIN, () => {
    delay = initial;
  });
  consumer.on(consumer.events.CRASH, (e) => {
    const err = e.payload.error;
    if (stopped) return;
    if (e.payload.restart) {
      o.log.warn({ err: err.message }, `the ${o.name} Kafka consumer failed; kafkajs restarts it`);
      return;
    }
    if (isOutage(err)) return again(err);
    o.log.error({ err: err.message, name: err.name }, `the ${o.name} Kafka consumer failed for good`);
    o.onFatal?.(err);
  });

  return {
    get recoveries() {
      return recoveries;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
