// API error codes. Every error answer has one shape, `{ code, message, details }`, with one of
// these codes and the HTTP status next to it.

import { EdgewaveError, type ErrorOptions } from '../../protocol/errors.js';

export const API_ERROR_CODES = {
  EW_API_INVALID: 'a request parameter, query field or body does not match the route schema (400; details name each field)',
  EW_API_UNAUTHORIZED: 'no API key, or one that is not known (401)',
  EW_API_FORBIDDEN: "the API key lacks the scope the route needs, e.g. a read key on an admin route (403)",
  EW_API_NOT_FOUND: 'no such route, session or sensor (404)',
  EW_API_RATE_LIMITED: "the API key's request budget for the current minute is spent (429; retry after the Retry-After seconds)",
  EW_API_UNAVAILABLE: 'a dependency the route needs (MongoDB, Kafka) does not answer (503)',
  EW_API_INTERNAL: 'anything else; the log has the cause (500)',
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_CODES;

export const API_ERROR_STATUS: Record<ApiErrorCode, number> = {
  EW_API_INVALID: 400,
  EW_API_UNAUTHORIZED: 401,
  EW_API_FORBIDDEN: 403,
  EW_API_NOT_FOUND: 404,
  EW_API_RATE_LIMITED: 429,
  EW_API_UNAVAILABLE: 503,
  EW_API_INTERNAL: 500,
};

export class ApiError extends EdgewaveError {
  declare readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
  get status(): number {
    return API_ERROR_STATUS[this.code];
  }
}

/** The JSON schema of every error answer (for the OpenAPI document). */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['code', 'message', 'details'],
  properties: {
    code: { type: 'string', enum: Object.keys(API_ERROR_CODES) },
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
  },
} as const;
