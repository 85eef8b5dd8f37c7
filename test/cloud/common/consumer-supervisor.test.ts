// Which consumer crashes are a Kafka outage (run the consumer again) and which are not (onFatal),
// on kafkajs's own error classes, wrapped the way its retry loop wraps them.

import * as kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isOutage } from '../../../cloud/common/consumer-supervisor.js';

/** kafkajs's constructors take more than its type declarations say. */
const make = (C: unknown, ...args: unknown[]): Error => new (C as new (...a: unknown[]) => Error)(...args);
/** As kafkajs's retry loop gives up: the error in a non-retriable one, with its cause. */
const wrapped = (e: Error & { cause?: unknown }) => make(kafkajs.KafkaJSNonRetriableError, e, { cause: e.cause ?? e });

describe('isOutage', () => {
  it('is true for a coordinator not found, a refused connection, and retries given up, wrapped or not', () => {
    const coordinator = make(kafkajs.KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator');
    expect(coordinator.name).toBe('KafkaJSGroupCoordinatorNotFound');
    expect(isOutage(coordinator)).toBe(true);
    expect(isOutage(wrapped(coordinator))).toBe(true);
    expect(isOutage(make(kafkajs.KafkaJSConnectionError, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'))).toBe(true);
    expect(isOutage(wrapped(make(kafkajs.KafkaJSConnectionError, 'closed')))).toBe(true);
    expect(isOutage(make(kafkajs.KafkaJSNumberOfRetriesExceeded, new Error('x'), { retryCount: 5, retryTime: 100 }))).toBe(true);
    expect(isOutage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isOutage(wrapped(make(kafkajs.KafkaJSProtocolError, { message: 'The coordinator is loading', type: 'COORDINATOR_LOAD_IN_PROGRESS', code: 14, retriable: true })))).toBe(true);
  });

  it('is false for bugs and for refusals that waiting does not mend', () => {
    expect(isOutage(wrapped(new TypeError("Cannot read properties of undefined (reading 'b')")))).toBe(false);
    expect(isOutage(new TypeError('x'))).toBe(false);
    expect(isOutage(wrapped(make(kafkajs.KafkaJSProtocolError, { message: 'Not authorized to access topics', type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false })))).toBe(false);
    expect(isOutage(make(kafkajs.KafkaJSSASLAuthenticationError, 'SASL PLAIN authentication failed'))).toBe(false);
    expect(isOutage(undefined)).toBe(false);
  });
});
