export * from './errors.js';
export * from './kernels.js';
export * from './reference.js';
