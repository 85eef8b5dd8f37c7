// Reading configuration files (Node only); validation lives in config.ts, which browsers import too.

import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config.js';

/** Reads a YAML or JSON config file into a plain value (validate it with parseConfig). */
export async function loadConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('EW_CONFIG_FILE', `cannot read config file ${path}: ${(err as Error).message}`, { path }, err);
  }
  try {
    return extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError('EW_CONFIG_FILE', `config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { path }, err);
  }
}
