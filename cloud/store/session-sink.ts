// Sessions topic → MongoDB: its own consumer group reading committed session events, each batch
// upserted (the newest version of each session wins, sessions-store.ts) before its offset is
// committed. A crash re-reads from the last commit, and writing an event again changes nothing, so
// MongoDB holds each session once, as of its newest event. A record that is no session event is
// logged and skipped (the processor wrote it; it cannot be fixed by reading it again). An event
// that travels in parts (records.ts) is written once all its parts are read; the offset committed
// stays before the first part of one still missing parts, so a restart reads them all again.

import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../../protocol/index.js';
import { superviseConsumer } from '../common/consumer-supervisor.js';
import { consumerTimeouts, untilRead, type Behind } from '../common/kafka.js';
import { SessionAssembler, type SessionRecord } from '../processor/records.js';
import type { SessionEvent } from '../processor/sessions.js';
import type { SessionRepository } from './sessions-store.js';

export interface SessionSinkOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  store: SessionRepository;
  log: Logger;
  /** The consumer's session timeout (how soon a dead sink's partitions move on). */
  sessionTimeoutMs?: number;
  /** The consumer stopped for good (not by a Kafka outage, which it rides out). */
  onFatal?: (err: Error) => void;
  /** The consumer is about to be joined to its group again after an outage kafkajs gave up on (for metrics). */
  onRecovering?: (err: Error) => void;
}

export interface SessionSinkHandle {
  stats(): { events: number; written: number; unreadable: number };
  /**
   * Writes every session event the topic holds when called, within `timeoutMs`: for the in-process
   * log, gone after a stop. Resolves with the partitions it could not read to their ends.
   */
  drain(timeoutMs: number): Promise<Behind[]>;
  stop(): Promise<void>;
}

function isSessionEvent(x: unknown): x is SessionRecord {
  const e = x as SessionRecord;
  return typeof e === 'object' && e !== null && typeof e.type === 'string' && typeof e.session?.sessionId === 'string' && typeof e.session.updatedAt === 'number';
}

export async function startSessionSink(o: SessionSinkOptions): Promise<SessionSinkHandle> {
  const stats = { events: 0, written: 0, unreadable: 0 };
  const consumer: Consumer = o.kafka.consumer({ groupId: o.groupId, readUncommitted: false, maxWaitTimeInMs: 200, ...consumerTimeouts(o.sessionTimeoutMs) });
  // Per partition; emptied when the group (re)assigns partitions, which are then read again from their commits.
  const assemblers = new Map<number, SessionAssembler>();
  /** Per partition, the offset after the last record read and written (what `drain` waits for). */
  const readTo = new Map<number, bigint>();
  consumer.on(consumer.events.GROUP_JOIN, () => assemblers.clear());

  async function eachBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    if (isStale() || !batch.messages.length) return;
    const events: SessionEvent[] = [];
    for (const msg of batch.messages) {
      let e: unknown;
      try {
        e = JSON.parse(msg.value?.toString() ?? '');
      } catch {
        e = undefined;
      }
      if (isSessionEvent(e)) {
        let a = assemblers.get(batch.partition);
        if (!a) assemblers.set(batch.partition, (a = new SessionAssembler()));
        const torn = a.torn;
        const whole = a.add(e, msg.offset);
        if (whole) events.push(whole);
        if (a.torn > torn) o.log.warn({ topic: batch.topic, partition: batch.partition, offset: msg.offset, sessionId: e.session.sessionId }, 'a session event whose parts were not all written is superseded by a later one; skipped');
      } else {
        stats.unreadable++;
        o.log.warn({ topic: batch.topic, partition: batch.partition, offset: msg.offset }, 'not a session event; skipped');
      }
    }
    stats.written += await o.store.write(events);
    stats.events += events.length;
    const next = BigInt(batch.lastOffset()) + 1n;
    const held = assemblers.get(batch.partition)?.firstPendingOffset();
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(held !== undefined && held < next ? held : next) }]);
    readTo.set(batch.partition, next);
    await heartbeat();
  }

  const run = () => consumer.run({ autoCommit: false, eachBatch });
  const supervisor = superviseConsumer(consumer, { name: 'session sink', log: o.log, run, onFatal: o.onFatal, onRecovering: o.onRecovering });
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  await run();

  let stopped: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    drain: (timeoutMs) => untilRead(o.kafka, o.groupId, [o.topic], (_, partition) => readTo.get(partition), timeoutMs),
    stop: () => {
      supervisor.stop();
      return (stopped ??= consumer.disconnect().catch(() => {}));
    },
  };
}
