// API keys: presented as `Authorization: Bearer <key>` or `X-API-Key: <key>` (WebSocket clients in
// browsers also as `?key=`), kept only as SHA-256 digests, each with scopes (`read`, `admin`).
// Keys come from the config, a keys file and a directory of key files (a Kubernetes secret mount),
// read again when `reload()` is called.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../protocol/index.js';
import { apiKeySchema, scopeSchema, type ApiConfig, type ApiKey } from './config.js';

export type Scope = z.output<typeof scopeSchema>;

export const sha256Hex = (key: string): string => createHash('sha256').update(key).digest('hex');

/** A new random key and its digest (for `edgewave api hash-key`). */
export function newApiKey(): { key: string; sha256: string } {
  const key = `ew_${randomBytes(24).toString('base64url')}`;
  return { key, sha256: sha256Hex(key) };
}

export class KeyRing {
  private byDigest = new Map<string, ApiKey>();

  constructor(private readonly auth: ApiConfig['auth']) {
    this.reload();
  }

  get open(): boolean {
    return this.auth.open;
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** Reads the keys again from the config, the keys file and the keys directory. */
  reload(): void {
    const keys: ApiKey[] = this.auth.keys.map((k) => ({ ...k, scopes: [...k.scopes] }));
    if (this.auth.keysFile) {
      let list: unknown;
      try {
        list = parseYaml(readFileSync(this.auth.keysFile, 'utf8'));
      } catch (err) {
        throw new ConfigError('EW_CONFIG_FILE', `auth.keysFile ${this.auth.keysFile}: ${(err as Error).message}`, {}, err);
      }
      const r = z.array(apiKeySchema).safeParse(list);
      if (!r.success) throw new ConfigError('EW_CONFIG_INVALID', `auth.keysFile ${this.auth.keysFile}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      keys.push(...r.data);
    }
    if (this.auth.keysDir) {
      for (const name of readdirSync(this.auth.keysDir)) {
        if (name.startsWith('.')) continue; // the ..data links of a secret mount
        const text = readFileSync(join(this.auth.keysDir, name), 'utf8').trim();
        const m = /^([a-z,]+):([0-9a-f]{64})$/.exec(text);
        const scopes = m?.[1]!.split(',');
        if (!m || !scopes!.every((s) => scopeSchema.safeParse(s).success)) {
          throw new ConfigError('EW_CONFIG_INVALID', `auth.keysDir: ${join(this.auth.keysDir, name)} must hold "<scope>[,<scope>]:<sha256 hex>" with scopes read or admin`);
        }
        keys.push({ id: name, sha256: m[2]!, scopes: scopes as Scope[] });
      }
    }
    this.byDigest = new Map(keys.map((k) => [k.sha256, k]));
  }

  /** The key a presented secret is, or null. */
  find(presented: string): ApiKey | null {
    const digest = sha256Hex(presented);
    const k = this.byDigest.get(digest);
    // The map lookup found it by digest; compare once more in constant time.
    return k && timingSafeEqual(Buffer.from(k.sha256, 'hex'), Buffer.from(digest, 'hex')) ? k : null;
  }
}
