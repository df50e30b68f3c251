export * from './client';
export * from './problem.error';
export * from './types';
