export * from './app';
export * from './hardening';
