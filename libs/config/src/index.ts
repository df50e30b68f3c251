export * from './env';
export * from './common-env';
export * from './secrets';
export * from './node-options';
