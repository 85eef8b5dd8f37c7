// The error contract every edgewave area follows, and the protocol's own codes.
// Callers decide from `code` and `retriable`, never from message text.

export interface ErrorOptions {
  cause?: unknown;
  retriable?: boolean;
  details?: Record<string, unknown>;
}

/** Base class for every error edgewave raises on purpose. */
export class EdgewaveError extends Error {
  readonly code: string;
  /** True when the same operation may succeed if tried again unchanged (store-and-forward reads this). */
  readonly retriable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? {};
  }

  toJSON(): { code: string; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isEdgewaveError(err: unknown): err is EdgewaveError {
  return err instanceof EdgewaveError;
}

/**
 * Protocol error codes: what can be wrong with bytes or JSON that claim to be an edgewave frame.
 * Each is listed, with its meaning, in protocol/README.md (a test keeps the two in step).
 */
export const PROTOCOL_ERROR_CODES = {
  EW_PROTO_TRUNCATED: 'input ends before the frame does',
  EW_PROTO_MAGIC: 'input does not start with the edgewave magic bytes',
  EW_PROTO_VERSION: 'frame version is not one this decoder reads',
  EW_PROTO_KIND: 'frame kind is unknown, or not the kind expected here',
  EW_PROTO_FLAGS: 'a flag bit that this version does not define is set',
  EW_PROTO_RESERVED: 'a reserved or padding byte is not zero',
  EW_PROTO_LENGTH: 'declared lengths do not add up to the input length',
  EW_PROTO_RANGE: 'a numeric field is outside its allowed range',
  EW_PROTO_ID: 'a sensor, gateway or group id is empty, too long or has a character outside [A-Za-z0-9_.:-]',
  EW_PROTO_NONFINITE: 'a sample or feature value is NaN or infinite',
  EW_PROTO_FUTURE: 'the frame starts further in the future than the allowed clock skew',
  EW_PROTO_UNKNOWN_SENSOR: 'the sensor is not registered and registration is required',
  EW_PROTO_JSON: 'a JSON frame is not valid JSON',
  EW_PROTO_FIELD: 'a JSON frame has a missing, unknown or mistyped field',
  EW_PROTO_TOPIC: 'an MQTT topic is not one of the edgewave topic forms',
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_CODES;

/** Bad input: never retriable, since the same bytes fail the same way. */
export class ProtocolError extends EdgewaveError {
  declare readonly code: ProtocolErrorCode;
  /** Byte offset of the offending field in binary input, when there is one. */
  readonly offset: number | undefined;
  /** Name of the offending field (binary header field or JSON path). */
  readonly field: string | undefined;

  constructor(
    code: ProtocolErrorCode,
    message: string,
    where: { offset?: number; field?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    const details: Record<string, unknown> = { ...where.details };
    if (where.field !== undefined) details.field = where.field;
    if (where.offset !== undefined) details.offset = where.offset;
    // Bad input is routine (a bridge may refuse thousands of frames a second) and the offset and
    // field say where it is wrong: no stack trace, whose capture cost more than the checks.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(code, message, { retriable: false, details, cause: where.cause });
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.offset = where.offset;
    this.field = where.field;
  }
}
