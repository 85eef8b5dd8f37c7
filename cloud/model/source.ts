// Where a model file comes from: a local path or an `s3://bucket/key` URL, with a version (the
// file's size and modification time, or the object's ETag) so a watcher can tell when it changed.

import { readFileSync, statSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { getObject, headEtag, parseS3Url } from '../common/s3.js';

export interface ModelBytes {
  bytes: Uint8Array;
  version: string;
}

export class ModelSource {
  private constructor(
    readonly location: string,
    private readonly s3: S3Client | null,
  ) {}

  /** A path, or an s3:// URL read with `s3` (required for those). */
  static of(location: string, s3: () => S3Client): ModelSource {
    return new ModelSource(location, location.startsWith('s3://') ? s3() : null);
  }

  get isS3(): boolean {
    return this.s3 !== null;
  }

  /** The current version, without reading the bytes (null: the file or object is gone). */
  async version(): Promise<string | null> {
    if (this.s3) {
      const { bucket, prefix } = parseS3Url(this.location);
      return headEtag(this.s3, bucket, prefix);
    }
    try {
      const st = statSync(this.location);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return null;
    }
  }

  async read(): Promise<ModelBytes> {
    if (this.s3) {
      const { bucket, prefix } = parseS3Url(this.location);
      const { bytes, etag } = await getObject(this.s3, bucket, prefix);
      return { bytes, version: etag };
    }
    const version = await this.version();
    return { bytes: readFileSync(this.location), version: version ?? '' };
  }
}
