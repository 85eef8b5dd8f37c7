// Edge error codes.

import { EdgewaveError } from '../protocol/errors.js';

export const EDGE_ERROR_CODES = {
  EW_EDGE_LISTEN: 'a local listener (such as the embedded MQTT broker) cannot bind its address or port',
  EW_EDGE_SENSORS: 'more sensors appeared than the agent was configured for (maxSensors)',
  EW_EDGE_CSV: 'a CSV line lacks the timestamp or a channel number (counted, the line is skipped)',
  EW_EDGE_OUTBOX: 'the outbox directory cannot be used, is closed, or a batch is larger than its whole bound',
} as const;

export type EdgeErrorCode = keyof typeof EDGE_ERROR_CODES;

export class EdgeError extends EdgewaveError {
  declare readonly code: EdgeErrorCode;
  constructor(code: EdgeErrorCode, message: string, options: { cause?: unknown; retriable?: boolean; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
