import type { ListPage } from '@im/contracts';
import type { Request } from 'express';

/**
 * The absolute base URL for hrefs: the configured public base URL when there is one (behind a proxy
 * or ingress), else the request's own scheme and host.
 */
export function baseUrl(req: Request, publicBaseUrl?: string): string {
  if (publicBaseUrl) return publicBaseUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

export type HrefBuilder = (path: string) => string;

export function hrefBuilder(req: Request, publicBaseUrl?: string): HrefBuilder {
  const base = baseUrl(req, publicBaseUrl);
  return (path) => `${base}${path}`;
}

/** The list envelope of the contract, with prev/next links that keep the request's other parameters. */
export function listPage<T>(
  req: Request,
  items: T[],
  total: number,
  page: number,
  size: number,
  publicBaseUrl?: string,
): ListPage<T> {
  const totalPages = Math.ceil(total / size);
  const link = (p: number) => {
    const url = new URL(req.originalUrl, 'http://placeholder');
    url.searchParams.set('offset', String(p));
    url.searchParams.set('size', String(size));
    return `${baseUrl(req, publicBaseUrl)}${url.pathname}${url.search}`;
  };
  return {
    totalRecords: total,
    totalPages,
    size,
    pageNumber: page,
    items,
    links: {
      prev: page > 0 ? link(Math.min(page - 1, Math.max(totalPages - 1, 0))) : null,
      next: page + 1 < totalPages ? link(page + 1) : null,
    },
  };
}
