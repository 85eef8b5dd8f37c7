// An S3 API (MinIO) against the object store contract (objects-contract.ts) that the embedded
// mode's directory store passes too (objects.test.ts).

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe } from 'vitest';
import { S3Objects } from '../../../cloud/common/objects.js';
import { servers, uniqueName } from '../../config.js';
import { objectsContract } from './objects-contract.js';

const m = servers().minio;

describe.runIf(m)('S3: the object store contract', () => {
  const s3 = new S3Client({ endpoint: m?.endpoint, region: m?.region ?? 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: m?.accessKeyId ?? '', secretAccessKey: m?.secretAccessKey ?? '' } });
  afterAll(() => s3.destroy());
  objectsContract(async () => {
    const bucket = uniqueName('objects');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return new S3Objects(s3, { bucket, prefix: 'archive' });
  });
});
