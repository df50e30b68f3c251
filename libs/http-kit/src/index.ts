export * from './app';
export * from './auth';
export * from './json-body';
export * from './links';
export * from './problem';
export * from './validate';
import './request-context';
