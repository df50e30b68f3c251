export * from './platform';
export * from './config';
