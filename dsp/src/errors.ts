// DSP error codes: what can go wrong loading or calling the kernels.

import { EdgewaveError } from '../../protocol/errors.js';

export const DSP_ERROR_CODES = {
  EW_DSP_LOAD: 'the dsp.wasm module cannot be found, read or instantiated, or does not match the loader',
  EW_DSP_MEMORY: 'the kernels cannot get enough WebAssembly memory',
  EW_DSP_SHAPE: 'input length or dimensions do not match the extractor (channels, window, count, maxChunk)',
  EW_DSP_SLOT: 'a sensor slot is outside 0..capacity-1',
  EW_DSP_CAPACITY: 'every sensor slot of the extractor is in use',
} as const;

export type DspErrorCode = keyof typeof DSP_ERROR_CODES;

export class DspError extends EdgewaveError {
  declare readonly code: DspErrorCode;
  constructor(code: DspErrorCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
  }
}
