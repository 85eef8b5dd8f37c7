// Smoke test: @aws-sdk/client-s3 against the S3-compatible server (MinIO), path-style addressing.

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { servers, uniqueName } from '../config.js';

const settings = servers().minio;

describe.runIf(settings)('S3 (@aws-sdk/client-s3)', () => {
  const s3 = new S3Client({
    endpoint: settings?.endpoint,
    region: settings?.region,
    forcePathStyle: true,
    credentials: { accessKeyId: settings?.accessKeyId ?? '', secretAccessKey: settings?.secretAccessKey ?? '' },
  });
  const bucket = uniqueName('smoke');
  const keys: string[] = [];
  afterAll(async () => {
    for (const Key of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch(() => {});
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    s3.destroy();
  });

  it('creates a bucket, puts, lists by prefix and gets objects back byte for byte', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = new Uint8Array(64 * 1024).map((_, i) => (i * 31) & 0xff);
    for (const key of ['archive/p0/0-99.parquet', 'archive/p0/100-199.parquet', 'archive/p1/0-49.parquet', 'models/gru.onnx']) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }));
      keys.push(key);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'archive/p0/' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['archive/p0/0-99.parquet', 'archive/p0/100-199.parquet']);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'models/gru.onnx' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.from(body))).toBe(true);
    const missing = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'nope' })).catch((e: { name?: string }) => e);
    expect((missing as { name?: string }).name).toBe('NoSuchKey');
  });
});
