import { IsoDateTime } from './common.schema';
import { z } from './zod';

export const FileMetadata = z
  .object({
    size: z.number().int(),
    lastModified: IsoDateTime,
    contentType: z.string(),
    sha256: z.string(),
  })
  .openapi('FileMetadata');

export const FileResource = z
  .object({ name: z.string(), href: z.string(), metadata: FileMetadata })
  .openapi('FileResource');
export type FileResource = z.infer<typeof FileResource>;

export const FileList = z
  .object({
    totalRecords: z.number().int(),
    totalPages: z.number().int(),
    size: z.number().int(),
    pageNumber: z.number().int(),
    items: z.array(FileResource),
    links: z.object({ prev: z.string().nullable(), next: z.string().nullable() }),
  })
  .openapi('FileList');
