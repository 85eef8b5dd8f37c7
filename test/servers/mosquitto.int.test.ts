// Smoke test: mqtt.js v5 against the real Mosquitto, open listener and the authenticated one
// whose ACL keeps each gateway to its own topics.

import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { servers, uniqueName } from '../config.js';

const settings = servers().mosquitto;

describe.runIf(settings)('Mosquitto (mqtt.js)', () => {
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  });

  async function connect(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options });
    clients.push(client);
    return client;
  }

  function collect(client: MqttClient): { topic: string; payload: Buffer; qos: number }[] {
    const got: { topic: string; payload: Buffer; qos: number }[] = [];
    client.on('message', (topic, payload, packet) => got.push({ topic, payload, qos: packet.qos }));
    return got;
  }

  async function until(cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  it('delivers QoS 1 messages in order and acknowledges the publisher', async () => {
    const root = uniqueName('smoke');
    const sub = await connect(settings!.url);
    const got = collect(sub);
    await sub.subscribeAsync(`${root}/#`, { qos: 1 });
    const pub = await connect(settings!.url);
    for (let i = 0; i < 50; i++) {
      const packet = await pub.publishAsync(`${root}/gw/s${i % 5}/raw`, Buffer.from([i]), { qos: 1 });
      // publishAsync resolves on PUBACK for QoS 1; a missing ack would hang and time out.
      expect(packet?.cmd).toBe('publish');
    }
    await until(() => got.length === 50);
    expect(got.map((m) => m.payload[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(got.every((m) => m.qos === 1)).toBe(true);
  });

  it('keeps QoS 1 messages for a persistent session while its subscriber is offline', async () => {
    const topic = `${uniqueName('smoke')}/gw/s1/raw`;
    const clientId = uniqueName('offline');
    const options = { clientId, clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await connect(settings!.url, options);
    await first.subscribeAsync(topic, { qos: 1 });
    await first.endAsync();
    const pub = await connect(settings!.url);
    for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
    const again = mqtt.connect(settings!.url, { protocolVersion: 5, reconnectPeriod: 0, ...options });
    clients.push(again);
    const got = collect(again);
    await until(() => got.length === 10);
    expect(got.map((m) => m.payload.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it('refuses a wrong password on the authenticated listener', async () => {
    await expect(
      mqtt.connectAsync(settings!.authUrl, { protocolVersion: 5, reconnectPeriod: 0, username: 'gateway-a', password: 'wrong' }),
    ).rejects.toThrow(/Bad User Name or Password|Not authorized/i);
  });

  it('lets a gateway write only under its own prefix', async () => {
    const users = settings!.users;
    const bridge = await connect(settings!.authUrl, { username: 'bridge', password: users.bridge! });
    const got = collect(bridge);
    await bridge.subscribeAsync('edgewave/#', { qos: 1 });
    const gw = await connect(settings!.authUrl, { username: 'gateway-a', password: users['gateway-a']! });
    const marker = uniqueName('m');
    await gw.publishAsync('edgewave/gateway-b/s1/raw', `${marker}-forged`, { qos: 1 }).catch(() => undefined);
    await gw.publishAsync('edgewave/gateway-a/s1/raw', `${marker}-own`, { qos: 1 });
    await until(() => got.some((m) => m.payload.toString() === `${marker}-own`));
    await new Promise((r) => setTimeout(r, 300));
    const mine = got.filter((m) => m.payload.toString().startsWith(marker)).map((m) => m.topic);
    expect(mine).toEqual(['edgewave/gateway-a/s1/raw']);
  });
});
