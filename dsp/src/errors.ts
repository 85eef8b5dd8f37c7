// DSP error codes: what can go wrong loading or calling the kernels.

import { EdgewaveError } from '../../protocol/errors.js';

export const DSP_ERROR_CODES = {
  EW_DSP_LOAD: 'the dsp.wasm module cannot be found, read or instantiated',
  EW_DSP_MEMORY: 'the kernels cannot get enough WebAssembly memory for the input',
  EW_DSP_SHAPE: 'input length does not match rows x count',
} as const;

export type DspErrorCode = keyof typeof DSP_ERROR_CODES;

export class DspError extends EdgewaveError {
  declare readonly code: DspErrorCode;
  constructor(code: DspErrorCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
  }
}
