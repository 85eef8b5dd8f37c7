// The processor's model from an s3:// URL on the S3 server, and new versions of it: a version that
// is no model is refused and the one in use stays; a new valid version is taken, and the frames
// after it are classified.

import { readFileSync } from 'node:fs';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHIPPED_MODEL, parseProcessorConfig } from '../../../cloud/processor/config.js';
import { startProcessor, type ProcessorHandle } from '../../../cloud/processor/processor.js';
import { createLogger } from '../../../protocol/index.js';
import { servers, uniqueName } from '../../config.js';

const s = servers();

/** The same model with a doc string appended (protobuf field 6 of ModelProto): other bytes, other ETag, same graph. */
function withDocString(model: Uint8Array, doc: string): Uint8Array {
  const text = Buffer.from(doc);
  return Buffer.concat([model, Buffer.from([(6 << 3) | 2, text.length]), text]);
}

describe.runIf(s.kafka && s.minio)('model from S3, reloaded', () => {
  const name = uniqueName('model');
  let s3: S3Client;
  let handle: ProcessorHandle | undefined;
  const shipped = readFileSync(SHIPPED_MODEL);
  const put = (body: Uint8Array) => s3.send(new PutObjectCommand({ Bucket: name, Key: 'models/activity.onnx', Body: body }));

  beforeAll(async () => {
    const m = s.minio!;
    s3 = new S3Client({ endpoint: m.endpoint, region: m.region, forcePathStyle: true, credentials: { accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey } });
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    await put(shipped);
    const kafka = new Kafka({ clientId: 'edgewave-test-model', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: ['raw', 'features', 'inferences', 'sessions', 'deadletter', 'state'].map((t) => ({ topic: `${name}.${t}`, numPartitions: 1 })), waitForLeaders: true });
    await admin.disconnect();
  });
  afterAll(async () => {
    await handle?.stop();
    s3?.destroy();
  });

  it('loads from s3://, refuses a version that is no model, takes a valid new version', async () => {
    const m = s.minio!;
    const config = parseProcessorConfig({
      kafka: {
        brokers: s.kafka!.brokers,
        groupId: `${name}-group`,
        transactionalIdPrefix: `${name}-tx`,
        topics: { raw: `${name}.raw`, features: `${name}.features`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` },
      },
      model: { path: `s3://${name}/models/activity.onnx`, reloadS: 0 },
      s3: { endpoint: m.endpoint, region: m.region, accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey },
      http: { port: 0 },
    });
    const lines: string[] = [];
    const log = createLogger('processor', { level: 'info', destination: { write: (l: string) => (lines.push(l), true) } as unknown as NodeJS.WritableStream });
    handle = await startProcessor(config, log);
    const first = handle.model;
    expect(first.info.classes).toEqual(['idle', 'walking', 'running', 'jumping', 'fall']);
    // Unchanged: nothing to take.
    expect(await handle.reloadModel()).toBe(false);

    await put(Buffer.from('not an onnx model'));
    expect(await handle.reloadModel()).toBe(false);
    expect(handle.model).toBe(first);
    expect(lines.join('')).toMatch(/the new model version was refused; keeping the current one/);

    await put(withDocString(shipped, 'retrained'));
    expect(await handle.reloadModel()).toBe(true);
    expect(handle.model).not.toBe(first);
    expect(handle.model.info).toEqual(first.info);
    expect(lines.join('')).toMatch(/"sensorStateKept":true/);
    const metrics = await (await fetch(`${handle.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^edgewave_processor_model_reloads_total 1$/m);
  }, 60_000);
});
