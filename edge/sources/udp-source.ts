// Sensors sending frames as UDP datagrams (one frame or one batch per datagram).

import { createSocket } from 'node:dgram';
import { EdgeError } from '../errors.js';
import { FrameInput, type FrameFormat } from './frame-input.js';
import type { RunningSource, SourceContext } from './source.js';

export interface UdpSourceConfig {
  host: string;
  port: number;
  format: FrameFormat;
}

export async function startUdpSource(c: UdpSourceConfig, ctx: SourceContext): Promise<RunningSource & { port: number }> {
  const socket = createSocket({ type: c.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 8 * 2 ** 20 });
  const input = new FrameInput(`udp ${c.host}:${c.port}`, c.format, ctx);
  socket.on('message', (msg) => input.take(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err) => reject(new EdgeError('EW_EDGE_LISTEN', `cannot listen for UDP on ${c.host}:${c.port}: ${err.message}`, { cause: err })));
    socket.bind(c.port, c.host, () => resolve());
  });
  socket.on('error', (err) => ctx.log.error({ err: err.message }, 'UDP source error'));
  const port = socket.address().port;
  ctx.log.info({ host: c.host, port }, 'listening for sensor frames over UDP');
  return { port, done: new Promise(() => undefined), stop: () => new Promise((r) => socket.close(() => r())) };
}
