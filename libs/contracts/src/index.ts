export { z } from './zod';
export * from './common.schema';
export * from './auth.schema';
export * from './jobconfig.schema';
export * from './job.schema';
export * from './file.schema';
export * from './events.schema';
export * from './topics';
export * from './openapi';
