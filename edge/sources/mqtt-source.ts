// Sensors publishing frames to a gateway-local MQTT broker.

import mqtt from 'mqtt';
import { FrameInput, type FrameFormat } from './frame-input.js';
import type { RunningSource, SourceContext } from './source.js';

export interface MqttSourceConfig {
  url: string;
  topic: string;
  format: FrameFormat;
  username?: string;
  password?: string;
}

export async function startMqttSource(c: MqttSourceConfig, clientId: string, ctx: SourceContext): Promise<RunningSource> {
  const input = new FrameInput(`mqtt ${c.url} ${c.topic}`, c.format, ctx);
  const client = mqtt.connect(c.url, { clientId, username: c.username, password: c.password, reconnectPeriod: 1000, protocolVersion: 5 });
  client.on('message', (_topic, payload) => input.take(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)));
  client.on('connect', () => {
    client.subscribe(c.topic, { qos: 1 }, (err) => {
      if (err) ctx.log.error({ err: err.message, topic: c.topic }, 'cannot subscribe to the local sensor topic');
      else ctx.log.info({ url: c.url, topic: c.topic }, 'taking sensor frames from the local broker');
    });
  });
  client.on('error', (err) => ctx.log.warn({ err: err.message, url: c.url }, 'local broker error'));
  return { done: new Promise(() => undefined), stop: async () => void (await client.endAsync()) };
}
