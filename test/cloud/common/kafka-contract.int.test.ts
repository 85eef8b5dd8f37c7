// Real Kafka against the log contract (log-contract.ts) that the embedded mode's in-process log
// passes too (memory-kafka.test.ts): the contract holds on what it stands in for.

import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe } from 'vitest';
import { servers, uniqueName } from '../../config.js';
import { logContract } from './log-contract.js';

const s = servers();

describe.runIf(s.kafka)('Kafka: the log contract', () => {
  const kafka = new Kafka({ clientId: 'edgewave-test-contract', brokers: s.kafka?.brokers ?? [], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  let connected = false;
  afterAll(() => admin.disconnect());
  logContract(() => ({
    kafka,
    name: (prefix) => uniqueName(prefix),
    createTopic: async (topic, partitions) => {
      if (!connected) {
        await admin.connect();
        connected = true;
      }
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    },
  }));
});
