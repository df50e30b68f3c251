export * from './platform-process';
export * from './wait-for';
export * from './zip-builder';
export * from './infra-env';
export * from './distributed';
