import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

// Every schema of the platform is built from this one extended zod, so that the OpenAPI document is
// generated from the very schemas that validate requests.
extendZodWithOpenApi(z);

export { z };
