// Every stable error code is documented, and the README's quick start is what .ci/run runs.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ERROR_CODES } from '../cloud/api/errors.js';
import { DSP_ERROR_CODES } from '../dsp/src/errors.js';
import { MODEL_ERROR_CODES } from '../cloud/model/model.js';
import { EDGE_ERROR_CODES } from '../edge/errors.js';
import { CONFIG_ERROR_CODES, PROTOCOL_ERROR_CODES } from '../protocol/index.js';

const read = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');

describe('docs', () => {
  it.each(Object.keys(PROTOCOL_ERROR_CODES))('protocol/README.md lists %s', (code) => {
    expect(read('protocol/README.md')).toContain(`\`${code}\``);
  });

  it.each([...Object.keys(CONFIG_ERROR_CODES), ...Object.keys(DSP_ERROR_CODES), ...Object.keys(EDGE_ERROR_CODES)])('README.md lists %s', (code) => {
    expect(read('README.md')).toContain(`\`${code}\``);
  });

  it.each(Object.keys(API_ERROR_CODES))('cloud/api/README.md lists %s', (code) => {
    expect(read('cloud/api/README.md')).toContain(`\`${code}\``);
  });

  it.each(Object.keys(MODEL_ERROR_CODES))('cloud/model/README.md lists %s', (code) => {
    expect(read('cloud/model/README.md')).toContain(`\`${code}\``);
  });

  it('README quick start has exactly two commands, and .ci/run runs the test one', () => {
    const readme = read('README.md');
    const quick = /## Quick start\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    const commands = [...quick.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/npm start/);
    expect(commands[1]).toMatch(/npm test/);
    expect(read('.ci/run')).toContain(commands[1]!.replace(/^npm install && /, ''));
  });
});
