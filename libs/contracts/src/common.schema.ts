import { z } from './zod';

export const IsoDateTime = z.string().openapi({ format: 'date-time', example: '2026-11-28T10:15:30.123Z' });

export const NumericId = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a numeric id')
  .openapi({ example: '44' });

export const Uuid = z.uuid().openapi({ example: '0b8f6a52-3f7e-4c2b-9d0c-4f8d7f1d2a11' });

/** A reference to another resource: `{ id, name, href }`. */
export const ResourceRef = z
  .object({ id: z.string(), name: z.string(), href: z.string() })
  .openapi('ResourceRef');
export type ResourceRef = z.infer<typeof ResourceRef>;

/** The problem+json body (RFC 9457) every error answer carries. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    code: z.string().openapi({ example: 'VALIDATION_FAILED' }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional(),
  })
  .openapi('Problem');
export type Problem = z.infer<typeof Problem>;

export const ListQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0).openapi({ description: 'Zero-based page number.' }),
  size: z.coerce.number().int().min(1).max(500).default(25).openapi({ description: 'Page size (max 500).' }),
  sortby: z.string().optional().openapi({ description: 'Comma-separated list of fields to sort by.' }),
  direction: z
    .string()
    .regex(/^(asc|desc)(,(asc|desc))*$/i, 'must be a comma list of asc or desc')
    .optional()
    .openapi({ description: 'asc or desc per sortby field, matched by position.' }),
});
export type ListQuery = z.infer<typeof ListQuery>;

export function listEnvelope<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      totalRecords: z.number().int(),
      totalPages: z.number().int(),
      size: z.number().int(),
      pageNumber: z.number().int(),
      items: z.array(item),
      links: z.object({ prev: z.string().nullable(), next: z.string().nullable() }),
    })
    .openapi(name);
}

export interface ListPage<T> {
  totalRecords: number;
  totalPages: number;
  size: number;
  pageNumber: number;
  items: T[];
  links: { prev: string | null; next: string | null };
}

export const ProductInfo = z
  .object({ name: z.string(), version: z.string(), buildDate: z.string() })
  .openapi('ProductInfo');
export type ProductInfo = z.infer<typeof ProductInfo>;
