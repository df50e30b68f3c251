export * from './knex-factory';
export * from './migrations';
export * from './paging';
export * from './db-env';
export { isDatabaseUnavailable } from './unavailable';
