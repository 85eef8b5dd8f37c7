// Sensor, gateway and group ids: they become MQTT topic levels, Kafka keys and object-key parts,
// so one conservative character set keeps every one of those safe without escaping.

import { ProtocolError } from './errors.js';

export const ID_MAX_LENGTH = 128;
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Byte value allowed in an id: A-Z a-z 0-9 _ . : - */
export function isIdByte(b: number): boolean {
  return (
    (b >= 0x30 && b <= 0x3a) || // 0-9 and ':'
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x61 && b <= 0x7a) || // a-z
    b === 0x5f || // _
    b === 0x2e || // .
    b === 0x2d // -
  );
}

export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
    throw new ProtocolError(
      'EW_PROTO_ID',
      `${field} must be 1-${ID_MAX_LENGTH} characters of [A-Za-z0-9_.:-], got ${shown}`,
      { field },
    );
  }
  return value;
}
