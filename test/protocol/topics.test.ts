import { describe, expect, it } from 'vitest';
import { DEFAULT_KAFKA_TOPICS, ProtocolError, TICK_HEADER, isTick, kafkaTopics, mqttTopics, tickIntervalMs } from '../../protocol/index.js';

describe('topics', () => {
  const t = mqttTopics();

  it('builds the MQTT topics of DESIGN.md and parses them back', () => {
    expect(t.raw('gw-1', 'imu-3')).toBe('edgewave/gw-1/imu-3/raw');
    expect(t.features('gw-1', 'imu-3')).toBe('edgewave/gw-1/imu-3/features');
    expect(t.status('gw-1')).toBe('edgewave/gw-1/status');
    expect(t.batch('gw-1')).toBe('edgewave/gw-1/batch');
    expect(t.parse('edgewave/gw-1/imu-3/raw')).toEqual({ kind: 'raw', gatewayId: 'gw-1', sensorId: 'imu-3' });
    expect(t.parse('edgewave/gw-1/batch')).toEqual({ kind: 'batch', gatewayId: 'gw-1' });
    expect(t.filters).toEqual({ raw: 'edgewave/+/+/raw', features: 'edgewave/+/+/features', status: 'edgewave/+/status', batch: 'edgewave/+/batch' });
    expect(t.gatewayPrefix('gw-1')).toBe('edgewave/gw-1/#');
  });

  it('supports a multi-level root', () => {
    const site = mqttTopics('plant/7/edgewave');
    expect(site.parse(site.raw('g', 's'))).toEqual({ kind: 'raw', gatewayId: 'g', sensorId: 's' });
  });

  it.each(['other/gw/s/raw', 'edgewave/gw/s/video', 'edgewave/gw', 'edgewave/g+w/status', 'edgewave/gw/s/raw/extra', 'edgewave//s/raw'])(
    'rejects %s',
    (topic) => {
      expect(() => t.parse(topic)).toThrow(ProtocolError);
      try {
        t.parse(topic);
      } catch (e) {
        expect((e as ProtocolError).code).toBe('EW_PROTO_TOPIC');
      }
    },
  );

  it('refuses to build a topic from an id that would change its shape', () => {
    expect(() => t.raw('gw/evil', 's')).toThrow(expect.objectContaining({ code: 'EW_PROTO_ID' }));
    expect(() => t.status('#')).toThrow(expect.objectContaining({ code: 'EW_PROTO_ID' }));
    expect(() => mqttTopics('edgewave/#')).toThrow(expect.objectContaining({ code: 'EW_PROTO_TOPIC' }));
  });

  it('names the Kafka topics of DESIGN.md and checks overrides', () => {
    expect(kafkaTopics()).toEqual(DEFAULT_KAFKA_TOPICS);
    expect(kafkaTopics({ raw: 'site7.raw' }).raw).toBe('site7.raw');
    expect(() => kafkaTopics({ deadletter: 'bad topic' })).toThrow(expect.objectContaining({ code: 'EW_PROTO_TOPIC', field: 'deadletter' }));
  });
});

describe('tick records', () => {
  it('are told by their header, as kafkajs hands it over (a Buffer) or as written (a string); the interval read from it', () => {
    expect(isTick({ [TICK_HEADER]: Buffer.from('1000') })).toBe(true);
    expect(isTick({ [TICK_HEADER]: '250' })).toBe(true);
    expect(isTick({ 'ew-gateway': Buffer.from('gw-1') })).toBe(false);
    expect(isTick({})).toBe(false);
    expect(isTick(undefined)).toBe(false);
    expect(tickIntervalMs({ [TICK_HEADER]: Buffer.from('1000') })).toBe(1000);
    expect(tickIntervalMs({ [TICK_HEADER]: '250' })).toBe(250);
    for (const bad of ['', '0', '-5', 'soon']) expect(tickIntervalMs({ [TICK_HEADER]: bad })).toBeNaN();
    expect(tickIntervalMs({})).toBeNaN();
  });
});
