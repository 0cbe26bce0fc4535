export * from './codec.js';
export * from './cdc.js';
export * from './keys.js';
export * from './blob.js';
export * from './pack.js';
