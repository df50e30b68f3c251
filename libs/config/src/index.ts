export * from './env';
export * from './common-env';
export * from './secrets';
export * from './endpoint-tokens';
export * from './node-options';
