// dsp/: one feature extractor for edge, cloud and browser.

export * from './errors.js';
export * from './loader.js';
export * from './config.js';
export * from './layout.js';
export * from './extractor.js';
export * from './row-stats.js';
export * from './reference.js';
