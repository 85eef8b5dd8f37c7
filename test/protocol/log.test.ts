import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../protocol/log.js';

describe('logging convention', () => {
  it('writes pino JSON lines tagged with the component, honouring the level', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (b: Buffer) => lines.push(...b.toString().trim().split('\n')));
    const log = createLogger('bridge', { level: 'info', destination: out });
    log.debug('hidden');
    log.info({ frames: 3 }, 'forwarded');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, component: 'bridge', frames: 3, msg: 'forwarded' });
  });
});
