import {
  JobConfigIdParams,
  ListQuery,
  MacroCreateRequest,
  MacroKey,
  MacroRequest,
  NumericId,
  z,
  type MacroBindingConfirmation,
} from '@im/contracts';
import { hrefBuilder, jsonBody, listPage, parse, principalOf } from '@im/http-kit';
import { InputError } from '@im/errors';
import express, { type RequestHandler, type Router } from 'express';
import type { MacroService } from './macro.service';
import { toMacroResource } from './resources';

export interface MacroRoutesDeps {
  macros: MacroService;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

/** The path of a macro. A malformed configuration id or name names no macro: 404. */
const MacroPath = z.object({ id: NumericId, name: MacroKey });

/**
 * `/api/jobconfigs/{id}/macros…`: the macros of a configuration one by one. Secure values are never
 * returned; the configuration's access rules apply (the owner or an administrator, others get 404).
 */
export function macroRoutes({ macros, authenticate, publicBaseUrl }: MacroRoutesDeps): Router {
  const r = express.Router();
  r.use('/api/jobconfigs/:id/macros', authenticate);

  r.get('/api/jobconfigs/:id/macros', async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const q = parse(ListQuery, req.query, 'query');
    const page = await macros.list(principalOf(req), id, {
      page: q.offset,
      size: q.size,
      sortby: q.sortby,
      direction: q.direction,
    });
    const href = hrefBuilder(req, publicBaseUrl);
    res.json(
      listPage(
        req,
        page.rows.map((m) => toMacroResource(id, m, href)),
        page.total,
        q.offset,
        q.size,
        publicBaseUrl,
      ),
    );
  });

  r.post('/api/jobconfigs/:id/macros', jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(MacroCreateRequest, req.body);
    const created = toMacroResource(
      id,
      await macros.create(principalOf(req), id, body),
      hrefBuilder(req, publicBaseUrl),
    );
    res.status(201).location(created.href).json(created);
  });

  // Not under /macros/: any name there is a macro's.
  r.post('/api/jobconfigs/:id/macrobindings', authenticate, async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const { state, confirmed, withheld } = await macros.confirm(principalOf(req), id);
    const body: MacroBindingConfirmation = { ...state, confirmed, withheld };
    res.json(body);
  });

  r.get('/api/jobconfigs/:id/macros/:name', async (req, res) => {
    const { id, name } = parse(MacroPath, req.params, 'params');
    res.json(
      toMacroResource(id, await macros.get(principalOf(req), id, name), hrefBuilder(req, publicBaseUrl)),
    );
  });

  r.put('/api/jobconfigs/:id/macros/:name', jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, { id: req.params.id }, 'params');
    // PUT creates: a name that is not a valid macro key is a bad request, not an unknown resource.
    const name = MacroKey.safeParse(req.params.name);
    if (!name.success) {
      const message = name.error.issues.map((i) => i.message).join('; ');
      throw new InputError(`The macro name in the path is not valid: ${message}.`, [
        { path: 'name', message },
      ]);
    }
    const body = parse(MacroRequest, req.body);
    const { macro, created } = await macros.put(principalOf(req), id, name.data, body);
    const resource = toMacroResource(id, macro, hrefBuilder(req, publicBaseUrl));
    if (created) res.status(201).location(resource.href);
    res.json(resource);
  });

  r.delete('/api/jobconfigs/:id/macros/:name', async (req, res) => {
    const { id, name } = parse(MacroPath, req.params, 'params');
    await macros.delete(principalOf(req), id, name);
    res.status(204).end();
  });

  return r;
}
