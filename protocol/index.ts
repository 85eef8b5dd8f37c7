// protocol/: what travels between edge and cloud. Both sides import from here and nowhere else.

export * from './errors.js';
export * from './ids.js';
export * from './frame.js';
export * from './decode-frame.js';
export * from './encode-frame.js';
export * from './batch.js';
export * from './json-frame.js';
export * from './topics.js';
export * from './config.js';
export * from './config-file.js';
export * from './log.js';
