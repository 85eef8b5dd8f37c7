// Apache Kafka, single node in KRaft mode (broker and controller in one JVM), from the Maven cache.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaHome, requireInstalled, tempDataDir } from './paths.js';
import { freePort, readyOrStop, runningServer, spawnLogged } from './process.js';
import type { RunningServer, StartContext } from './types.js';

const run = promisify(execFile);

export async function startKafka(ctx: StartContext): Promise<RunningServer> {
  const home = kafkaHome();
  requireInstalled('Kafka', join(home, '.installed'));
  const version = home.split('kafka-').pop()!;
  const classpath = join(home, 'libs', '*');
  const dataDir = tempDataDir('kafka');
  const [port, controllerPort] = [await freePort(), await freePort()];
  const props = join(dataDir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${join(dataDir, 'logs')}`,
      // One broker: internal topics must not ask for more replicas than exist, or groups and
      // transactions never become available.
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=8',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=8',
      'group.initial.rebalance.delay.ms=0',
      'num.partitions=1',
      'auto.create.topics.enable=true',
      'log.flush.interval.messages=9223372036854775807',
      '',
    ].join('\n'),
  );
  const clusterId = randomBytes(16).toString('base64url');
  const logFile = join(ctx.logDir, 'kafka.log');
  const jvm = ['-Xms256m', '-Xmx768m', '-XX:+UseG1GC', '-Djava.awt.headless=true', '-Dorg.slf4j.simpleLogger.showDateTime=true'];
  await run('java', [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props]);
  const proc = spawnLogged('java', [...jvm, '-cp', classpath, 'kafka.Kafka', props], logFile, { detached: ctx.detached });
  const brokers = `127.0.0.1:${port}`;
  const admin = new Kafka({ clientId: 'edgewave-servers', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  try {
    await readyOrStop('kafka', proc, dataDir, async () => {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0;
    }, 90_000);
  } finally {
    await admin.disconnect().catch(() => {});
  }
  return runningServer('kafka', `Apache Kafka ${version} (KRaft)`, proc, dataDir, { EW_KAFKA_BROKERS: brokers }, 30_000);
}
