// A Mosquitto of the test's own, on a fixed port, that the test can stop and start again (the
// shared one from the global setup must stay up for other suites). Persistence on, so a
// subscriber's persistent session and its queued messages survive a broker restart.

import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

export { freePort } from '../../scripts/servers/process.js';

export class PrivateBroker {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'edgewave-broker-'));
  constructor(readonly port: number) {
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${this.dir}/`, 'max_queued_messages 0', 'max_inflight_messages 0', 'log_dest none', ''].join('\n'),
    );
    if (process.getuid?.() === 0) {
      try {
        chownSync(this.dir, uid('mosquitto'), -1);
      } catch {
        // no mosquitto user: it runs as root
      }
    }
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        const c = await mqtt.connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 1000 });
        await c.endAsync();
        return;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** SIGTERM: Mosquitto saves its persistence file and exits. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function uid(user: string): number {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error('no such user');
  return Number(line.split(':')[2]);
}
