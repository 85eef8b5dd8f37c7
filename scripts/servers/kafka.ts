// Apache Kafka, single node in KRaft mode (broker and controller in one JVM), from the Maven cache.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaHome, requireInstalled, tempDataDir } from './paths.js';
import { freePort, readyOrStop, runningServer, spawnLogged, type ServerProcess } from './process.js';
import type { RunningServer, StartContext } from './types.js';

const run = promisify(execFile);

export async function startKafka(ctx: StartContext): Promise<RunningServer> {
  const node = await KafkaNode.create(ctx, tempDataDir('kafka'));
  await node.start();
  return runningServer('kafka', `Apache Kafka ${node.version} (KRaft)`, node.proc!, node.dataDir, { EW_KAFKA_BROKERS: node.brokers }, 30_000);
}

/**
 * One Kafka node on fixed ports and a fixed data directory, so that it can be stopped and started
 * again with its data (the tests that take Kafka away mid-run use this directly).
 */
export class KafkaNode {
  proc: ServerProcess | undefined;
  private formatted = false;

  private constructor(
    private readonly ctx: StartContext,
    readonly dataDir: string,
    readonly port: number,
    private readonly controllerPort: number,
    readonly version: string,
    private readonly classpath: string,
  ) {}

  static async create(ctx: StartContext, dataDir: string): Promise<KafkaNode> {
    const home = kafkaHome();
    requireInstalled('Kafka', join(home, '.installed'));
    return new KafkaNode(ctx, dataDir, await freePort(), await freePort(), home.split('kafka-').pop()!, join(home, 'libs', '*'));
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  // ZGC: its pauses stay under a millisecond. With G1, on this 2-core machine, the broker stopped
  // for 15-50 ms every few seconds (young collections; 130 ms for a humongous allocation), and
  // every producer and consumer of the pipeline with it: bench:e2e's tail. Its log is kafka-gc.log
  // beside kafka.log.
  // EW_KAFKA_JAVA_OPTS adds options after these (space-separated), for trying others.
  private static readonly jvm = ['-Xms256m', '-Xmx1g', '-XX:+UseZGC', '-Djava.awt.headless=true', '-Dorg.slf4j.simpleLogger.showDateTime=true'];

  async start(): Promise<void> {
    const { dataDir, port, controllerPort } = this;
    const props = join(dataDir, 'server.properties');
    if (!this.formatted) {
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
      // As Kafka's own ids: never starting with '-', which the storage tool would read as an option.
      let clusterId = randomBytes(16).toString('base64url');
      while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
      await run('java', [...KafkaNode.jvm, '-cp', this.classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props]);
      this.formatted = true;
    }
    const logFile = join(this.ctx.logDir, 'kafka.log');
    this.proc = spawnLogged('java', [...KafkaNode.jvm, ...(process.env.EW_KAFKA_JAVA_OPTS ?? '').split(' ').filter(Boolean), `-Xlog:gc:file=${join(this.ctx.logDir, 'kafka-gc.log')}:time,uptime`, '-cp', this.classpath, 'kafka.Kafka', props], logFile, { detached: this.ctx.detached });
    const admin = new Kafka({ clientId: 'edgewave-servers', brokers: [this.brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await readyOrStop('kafka', this.proc, dataDir, async () => {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0;
      }, 90_000);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Stops the process and keeps the data: start() brings the same node back. */
  async stop(): Promise<void> {
    await this.proc?.stop(30_000);
    this.proc = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
