// The configuration convention every component follows: one schema per component, validated once
// where the component is created; it fills defaults, rejects unknown keys, names the bad field and
// the fix, and returns a frozen result.

import { z } from 'zod';
import { EdgewaveError } from './errors.js';

export const CONFIG_ERROR_CODES = {
  EW_CONFIG_INVALID: 'a configuration value is missing, unknown or of the wrong type',
  EW_CONFIG_FILE: 'a configuration file cannot be read or parsed',
} as const;

export type ConfigErrorCode = keyof typeof CONFIG_ERROR_CODES;

export class ConfigError extends EdgewaveError {
  declare readonly code: ConfigErrorCode;
  constructor(code: ConfigErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { retriable: false, details, cause });
  }
}

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, schema: z.ZodType): string {
  const path = issue.path.map(String).join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${path}: ` : '';
    return `${where}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: remove ${issue.keys.length > 1 ? 'them' : 'it'} or check the spelling`;
  }
  const hint = fieldDescription(schema, issue.path);
  return `${path}: ${issue.message}${hint ? ` (${hint})` : ''}`;
}

/** The `.describe()` text of the field at `path`, used as the fix in error messages. */
function fieldDescription(schema: z.ZodType, path: readonly PropertyKey[]): string | undefined {
  let node: z.ZodType | undefined = schema;
  for (const key of path) {
    node = unwrap(node);
    if (node instanceof z.ZodObject) node = (node.shape as Record<string, z.ZodType>)[String(key)];
    else if (node instanceof z.ZodArray) node = node.element as z.ZodType;
    else return undefined;
    if (!node) return undefined;
  }
  return node?.description ?? (node ? unwrap(node).description : undefined);
}

function unwrap(node: z.ZodType): z.ZodType {
  let n = node;
  while (n instanceof z.ZodDefault || n instanceof z.ZodOptional || n instanceof z.ZodNullable) {
    n = n.unwrap() as z.ZodType;
  }
  return n;
}

/**
 * Validates `input` against a component's schema. Every problem is listed in one error
 * (EW_CONFIG_INVALID), each naming its field path; the returned config is deeply frozen.
 */
export function parseConfig<S extends z.ZodType>(component: string, schema: S, input: unknown): DeepReadonly<z.output<S>> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => describeIssue(i, schema));
    throw new ConfigError('EW_CONFIG_INVALID', `${component} config is invalid:\n  - ${problems.join('\n  - ')}`, {
      component,
      fields: result.error.issues.map((i) => i.path.map(String).join('.')),
    });
  }
  return deepFreeze(result.data) as DeepReadonly<z.output<S>>;
}

/** Whether the config schema takes only text at this path (then an env value stays text, never JSON). */
function takesText(schema: z.ZodType | undefined, path: readonly string[]): boolean {
  let node = schema as { _zod: { def: Record<string, unknown> & { type: string } } } | undefined;
  for (let i = 0; node; ) {
    const def = node._zod.def;
    if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'readonly' || def.type === 'prefault') node = def.innerType as typeof node;
    else if (def.type === 'pipe') node = def.in as typeof node;
    else if (i === path.length) return def.type === 'string' || def.type === 'enum' || def.type === 'literal' && typeof (def.values as unknown[])?.[0] === 'string';
    else if (def.type === 'object') {
      const shape = def.shape as Record<string, typeof node>;
      const key = Object.keys(shape).find((k) => k.toLowerCase() === path[i]!.toLowerCase());
      node = key === undefined ? undefined : shape[key];
      i++;
    } else return false;
  }
  return false;
}

/**
 * Applies `<prefix>*` variables to a raw config: with prefix EW_EDGE_, EW_EDGE_MQTT__URL=mqtt://x
 * sets mqtt.url (levels joined by __, SNAKE_CASE read as camelCase, names matched
 * case-insensitively). A value that parses as JSON is used as JSON, except where `schema` takes
 * only text: there it stays as written, so a password of digits is not read as a number.
 */
export function applyEnv(input: unknown, prefix: string, env: NodeJS.ProcessEnv = process.env, schema?: z.ZodType): unknown {
  const out = structuredClone((input ?? {}) as Record<string, unknown>);
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(prefix) || raw === undefined) continue;
    const path = key.slice(prefix.length).split('__').map((p) => p.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
    let value: unknown = raw;
    if (!takesText(schema, path)) {
      try {
        value = JSON.parse(raw);
      } catch {
        // a plain string
      }
    }
    let node = out;
    for (const [i, part] of path.entries()) {
      const existing = Object.keys(node).find((k) => k.toLowerCase() === part.toLowerCase()) ?? part;
      if (i === path.length - 1) node[existing] = value;
      else node = (node[existing] ??= {}) as Record<string, unknown>;
    }
  }
  return out;
}

/** The `logLevel` key every component has. */
export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** The `http` key of a component's status listener (`routes` names what it serves), on loopback by default. */
export function statusHttpSchema(port: number, routes: string) {
  return z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(port).describe(`${routes}; 0 picks a free port`),
  }).default({ host: '127.0.0.1', port });
}
