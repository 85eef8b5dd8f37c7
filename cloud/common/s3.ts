// The S3 connection every cloud component shares: `s3://bucket/prefix` URLs, the config keys of an
// S3 API endpoint (AWS, or a compatible server such as MinIO), and the client made from them.
// Credentials come from the config when given, otherwise from the AWS SDK's usual chain
// (environment, shared files, the pod's web identity).

import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

export const s3Connection = z.strictObject({
  endpoint: z.url().optional().describe('an S3-compatible endpoint, e.g. http://minio:9000 (default: AWS for the region)'),
  region: z.string().min(1).default('us-east-1'),
  forcePathStyle: z.boolean().optional().describe('bucket in the path instead of the host name (default: true when an endpoint is given)'),
  accessKeyId: z.string().min(1).optional().describe('default: the AWS SDK credential chain (AWS_ACCESS_KEY_ID, web identity, ...)'),
  secretAccessKey: z.string().min(1).optional(),
});

export type S3Connection = z.output<typeof s3Connection>;

export const S3_CONNECTION_DEFAULT: S3Connection = { region: 'us-east-1' };

export const s3UrlSchema = z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 's3://bucket/prefix');

export interface S3Location {
  bucket: string;
  /** Key prefix without a leading or trailing slash ('' for the bucket's root). */
  prefix: string;
}

/** `s3://bucket/a/b/` → { bucket, prefix: 'a/b' }. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1]!, prefix: m[2]!.replace(/^\/+|\/+$/g, '') };
}

/** Joins a prefix and a key ('' prefixes nothing). */
export function joinKey(prefix: string, key: string): string {
  return prefix ? `${prefix}/${key}` : key;
}

export function createS3(c: Readonly<S3Connection>): S3Client {
  return new S3Client({
    region: c.region,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    forcePathStyle: c.forcePathStyle ?? c.endpoint !== undefined,
    ...(c.accessKeyId && c.secretAccessKey ? { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } } : {}),
    // Checksums only where the API requires them: S3-compatible servers differ in what they accept.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** An object's bytes and its ETag. */
export async function getObject(s3: S3Client, bucket: string, key: string): Promise<{ bytes: Uint8Array; etag: string }> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { bytes: await r.Body!.transformToByteArray(), etag: r.ETag ?? '' };
}

/** An object's ETag, or null when it does not exist. */
export async function headEtag(s3: S3Client, bucket: string, key: string): Promise<string | null> {
  try {
    const r = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return r.ETag ?? '';
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return null;
    throw err;
  }
}
