export * from './object-storage';
export * from './metering';
export * from './local-storage';
export * from './s3-storage';
export * from './zip-reader';
export * from './zip-safety';
