// Bridge error codes. Frames refused for one of these reasons go to the dead-letter topic with the
// code, as do frames refused for a protocol/ reason (EW_PROTO_*).

import { EdgewaveError, type ErrorOptions } from '../../protocol/errors.js';

export const BRIDGE_ERROR_CODES = {
  EW_BRIDGE_GATEWAY_MISMATCH: "a frame's gatewayId is not the gateway of the MQTT topic it came on (one gateway may not write another's data)",
  EW_BRIDGE_SENSOR_MISMATCH: "a frame on a per-sensor topic names another sensor than the topic does",
  EW_BRIDGE_KIND_MISMATCH: 'a raw frame on a features topic, or a feature frame on a raw topic',
  EW_BRIDGE_TOO_LARGE: 'a frame is larger than the largest Kafka record the bridge may produce (kafka.maxRecordBytes)',
  EW_BRIDGE_LISTEN: 'the /health, /ready and /metrics listener cannot bind its address or port',
} as const;

export type BridgeErrorCode = keyof typeof BRIDGE_ERROR_CODES;

export class BridgeError extends EdgewaveError {
  declare readonly code: BridgeErrorCode;
  constructor(code: BridgeErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
