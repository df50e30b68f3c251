import { z } from '@im/contracts';
import { describeUrl } from '../credential.redaction';
import { jsonCheck } from '../formats/json.format';
import { describeUnexpected, HeaderMap, HttpUrl, httpRequest, TimeoutSeconds } from '../http.client';
import { DocumentPathField, type DocumentPath } from '../jsonata.expression';
import { StepError } from '../step.registry';
import {
  defineConnector,
  type ConnectorContext,
  type LoadReject,
  type RowSink,
  type SourceItem,
} from './connector.registry';

const SourceFields = z
  .strictObject({
    url: HttpUrl,
    headers: HeaderMap.default({}),
    /** Where a page's items are: a dotted path (`data.items`) or JSONata; default: the page itself. */
    itemsPath: DocumentPathField.optional(),
    /** Paging by link: the next page's URL in each page (dotted path or JSONata); none = last page. */
    nextPath: DocumentPathField.optional(),
    /** Paging by number: the query parameter of the page number (e.g. `page`); stops at an empty page. */
    pageParam: z.string().min(1).optional(),
    firstPage: z.int().min(0).default(1),
    /** With pageParam: the page size sent as `pageSizeParam`. */
    pageSize: z.int().min(1).optional(),
    pageSizeParam: z.string().min(1).default('pageSize'),
    /** Guard against endless paging: more pages than this fails the step. */
    maxPages: z.int().min(1).default(1000),
    timeoutSeconds: TimeoutSeconds,
  })
  .superRefine((c, ctx) => {
    if (c.nextPath && c.pageParam)
      ctx.addIssue({ code: 'custom', path: ['pageParam'], message: 'use either nextPath or pageParam' });
    if (c.pageSize !== undefined && !c.pageParam)
      ctx.addIssue({ code: 'custom', path: ['pageSize'], message: 'only with pageParam' });
  });
type SourceConfig = z.output<typeof SourceFields>;

const TargetFields = z.strictObject({
  url: HttpUrl,
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  headers: HeaderMap.default({}),
  /** 1: each row is one request with the row as its JSON body; N: a JSON array of up to N rows. */
  batchSize: z.int().min(1).max(10_000).default(1),
  timeoutSeconds: TimeoutSeconds,
});
type TargetConfig = z.output<typeof TargetFields>;

function withJson(headers: Readonly<Record<string, string>>, contentType: boolean): Record<string, string> {
  const out: Record<string, string> = { ...headers };
  const has = (name: string) => Object.keys(out).some((k) => k.toLowerCase() === name);
  if (!has('accept')) out.accept = 'application/json';
  if (contentType && !has('content-type')) out['content-type'] = 'application/json';
  return out;
}

async function itemsOf(page: unknown, path: DocumentPath | undefined, pageNo: number): Promise<unknown[]> {
  const items = path ? await path.get(page) : page;
  if (items === undefined || items === null) return [];
  if (Array.isArray(items)) return items as unknown[];
  if (path?.kind === 'jsonata') return [items]; // JSONata gives a single match without its array
  throw new StepError(
    `page ${pageNo}: ${path ? `itemsPath '${path.source}' gives` : 'the page is'} ${typeof items}, not an array (set itemsPath to the array of items)`,
  );
}

/**
 * Pages of JSON, fetched one at a time (a page is held while its items are read, never more), by
 * next link, by page number, or one page. The next link must stay on the first URL's origin: the
 * headers (credentials) are never sent elsewhere.
 */
async function* readPages(c: SourceConfig, ctx: ConnectorContext): AsyncGenerator<SourceItem> {
  const origin = new URL(c.url).origin;
  const headers = withJson(c.headers, false);
  let url: string | undefined = c.url;
  let pageNo = 0;
  let pageNumber = c.firstPage;
  while (url !== undefined) {
    if (++pageNo > c.maxPages)
      throw new StepError(`more than maxPages (${c.maxPages}) pages; raise maxPages if that is expected`);
    const u: URL = new URL(url);
    if (c.pageParam) {
      u.searchParams.set(c.pageParam, String(pageNumber));
      if (c.pageSize !== undefined) u.searchParams.set(c.pageSizeParam, String(c.pageSize));
    }
    const res = await httpRequest({
      method: 'GET',
      url: u.toString(),
      headers,
      timeoutMs: c.timeoutSeconds * 1000,
    });
    if (res.status < 200 || res.status > 299)
      throw new StepError(`page ${pageNo}: GET ${describeUrl(u)} ${await describeUnexpected(res)}`);
    let page: unknown;
    try {
      page = await res.json();
    } catch (err) {
      throw new StepError(
        `page ${pageNo}: GET ${describeUrl(u)} did not answer JSON: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const items = await itemsOf(page, c.itemsPath, pageNo);
    ctx.logger.debug(`page ${pageNo}: ${items.length} item(s)`);
    for (const [i, row] of items.entries()) yield { ok: true, row, position: `page ${pageNo} item ${i + 1}` };

    if (c.nextPath) {
      const next = await c.nextPath.get(page);
      if (next === undefined || next === null || next === '') url = undefined;
      else if (typeof next !== 'string')
        throw new StepError(
          `page ${pageNo}: nextPath '${c.nextPath.source}' gives ${typeof next}, not a URL`,
        );
      else {
        const resolved: URL = new URL(next, u);
        if (resolved.origin !== origin)
          throw new StepError(
            `page ${pageNo}: the next page is on another origin (${resolved.origin}); refused, so the headers are not sent there`,
          );
        url = resolved.toString();
      }
    } else if (c.pageParam) {
      if (items.length === 0) url = undefined;
      else pageNumber++;
    } else url = undefined;
  }
}

/** Sends rows as JSON, one request per row or per batch; a refused row or batch becomes rejects. */
class HttpSink implements RowSink {
  private batch: { row: unknown; position: string }[] = [];

  constructor(
    private readonly c: TargetConfig,
    private readonly ctx: ConnectorContext,
  ) {}

  async write(row: unknown, position: string): Promise<readonly LoadReject[]> {
    const bad = jsonCheck(row);
    if (bad) return [{ row, position, reason: bad }];
    this.batch.push({ row, position });
    return this.batch.length >= this.c.batchSize ? this.send() : [];
  }

  private async send(): Promise<readonly LoadReject[]> {
    const rows = this.batch;
    this.batch = [];
    if (rows.length === 0) return [];
    const body =
      this.c.batchSize === 1 ? JSON.stringify(rows[0]?.row) : JSON.stringify(rows.map((r) => r.row));
    let reason: string;
    try {
      const res = await httpRequest({
        method: this.c.method,
        url: this.c.url,
        headers: withJson(this.c.headers, true),
        body,
        timeoutMs: this.c.timeoutSeconds * 1000,
      });
      if (res.status >= 200 && res.status <= 299) {
        await res.body?.cancel().catch(() => undefined);
        return [];
      }
      reason = `${this.c.method} ${describeUrl(this.c.url)} ${await describeUnexpected(res)}`;
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      reason = err.message;
    }
    this.ctx.logger.debug(`a batch of ${rows.length} row(s) was refused: ${reason}`);
    return rows.map((r) => ({ row: r.row, position: r.position, reason }));
  }

  close(): Promise<readonly LoadReject[]> {
    return this.send();
  }

  async abort(): Promise<void> {
    this.batch = [];
  }
}

/**
 * `http`. Source: paged GET of JSON (`url`, `headers`, `itemsPath`, `nextPath` or `pageParam` with
 * `pageSize`, `maxPages`, `timeoutSeconds`). Target: rows POSTed as JSON (`url`, `method`,
 * `headers`, `batchSize`, `timeoutSeconds`); an answer other than 2xx rejects the row or batch.
 */
export const httpConnector = defineConnector('http', {
  source: {
    fields: SourceFields,
    describe: (c) => `GET ${describeUrl(c.url)}`,
    open: readPages,
  },
  target: {
    fields: TargetFields,
    describe: (c) => `${c.method} ${describeUrl(c.url)}`,
    open: async (c, ctx) => new HttpSink(c, ctx),
  },
});
