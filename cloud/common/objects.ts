// Where the archive's objects go: an S3 API (`s3://bucket/prefix`) in distributed mode, a directory
// (`file:///path` or a plain path) in the embedded mode (./data/archive). Both pass the same
// contract (test/cloud/common/objects-contract.ts): a put replaces the object of its key whole
// (never half written), get gives its bytes, list gives the keys under a prefix in key order.

import { mkdirSync, readdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getObject, joinKey, parseS3Url, type S3Location } from './s3.js';

export interface ObjectStore {
  /** Where it is, for messages: s3://bucket/prefix or file:///path. */
  readonly url: string;
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  /** The keys under `prefix` (relative to the store), in key order. */
  list(prefix: string): Promise<string[]>;
}

export class S3Objects implements ObjectStore {
  readonly url: string;
  constructor(
    private readonly s3: S3Client,
    private readonly location: S3Location,
  ) {
    this.url = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: joinKey(this.location.prefix, key), Body: body, ContentType: contentType }));
  }

  async get(key: string): Promise<Uint8Array> {
    return (await getObject(this.s3, this.location.bucket, joinKey(this.location.prefix, key))).bytes;
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const base = this.location.prefix ? `${this.location.prefix}/` : '';
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: base + prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) out.push(o.Key!.slice(base.length));
      token = page.NextContinuationToken;
    } while (token);
    return out.sort();
  }
}

export class DirObjects implements ObjectStore {
  readonly url: string;
  private tmp = 0;
  constructor(private readonly root: string) {
    this.url = `file://${root}`;
  }

  private path(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`not an object key: ${key}`);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.path(key);
    mkdirSync(dirname(path), { recursive: true });
    // Written beside, then renamed over: a reader sees the old object or the new one, whole.
    const tmp = `${path}.tmp-${process.pid}-${++this.tmp}`;
    await writeFile(tmp, body);
    await rename(tmp, path);
  }

  async get(key: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.path(key)));
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string) => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (!e.name.includes('.tmp-')) {
          const key = relative(this.root, p).split(sep).join('/');
          if (key.startsWith(prefix)) out.push(key);
        }
      }
    };
    walk(this.root);
    return out.sort();
  }
}

/** The store for a URL: s3://bucket/prefix (with the client it needs), else a directory (file:///path or a path). */
export function openObjects(url: string, s3: () => S3Client): ObjectStore {
  if (url.startsWith('s3://')) return new S3Objects(s3(), parseS3Url(url));
  return new DirObjects(url.startsWith('file://') ? new URL(url).pathname : url);
}
