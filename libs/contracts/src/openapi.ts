import { OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import {
  Account,
  ChangePasswordRequest,
  CreateAccountRequest,
  CreatedAccount,
  CreateUserRequest,
  LoginRequest,
  RefreshRequest,
  TokenResponse,
  UpdateUserRequest,
  User,
  UserList,
} from './auth.schema';
import { AuditEventList, AuditQuery } from './audit.schema';
import { ListQuery, NumericId, Problem, ProductInfo } from './common.schema';
import {
  FileKey,
  EntryPoints,
  JobConfig,
  JobConfigInput,
  JobConfigList,
  JobConfigPatch,
  MacroBindingConfirmation,
  MacroKey,
  MacroList,
  MacroRequest,
  MacroResource,
} from './jobconfig.schema';
import { FileList, FileResource } from './file.schema';
import { ScheduleRequest, ScheduleResponse } from './schedule.schema';
import {
  Job,
  JobEventsQuery,
  JobList,
  JobListQuery,
  JobOutputFileList,
  JobOutputPath,
  RunRequest,
} from './job.schema';
import { Uuid } from './common.schema';
import { z } from './zod';

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Problem } },
});
const json = (schema: z.ZodTypeAny, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const jsonBody = (schema: z.ZodTypeAny) => ({ content: { 'application/json': { schema } }, required: true });

const std = {
  400: problem('The request is not valid; `errors` lists the fields.'),
  401: problem('Missing, expired or forged access token.'),
  404: problem('No such resource, or not yours.'),
};

const IdParam = z.object({ id: NumericId });
const JobIdParam = z.object({ id: Uuid });
const FileParams = z.object({ id: NumericId, key: FileKey });
const MacroParams = z.object({ id: NumericId, name: MacroKey });

/**
 * Builds the OpenAPI 3.1 document of the public API from the same zod schemas the services validate
 * with. `serverUrl` is the API's base (e.g. `http://localhost:8080/api`).
 */
export function buildOpenApiDocument(info: { version: string; serverUrl: string }) {
  const r = new OpenAPIRegistry();
  const bearer = r.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  const secured = [{ [bearer.name]: [] }];
  // Answers any operation can give besides its own: a body over the limit, bad query or body input,
  // the rate limit.
  const common = (c: RouteConfig) => ({
    ...(c.request?.body || c.request?.query ? { 400: std[400] } : {}),
    ...(c.request?.body ? { 413: problem('The body is larger than the limit.') } : {}),
    429: problem('Too many requests; retry after the seconds of the `Retry-After` header.'),
  });
  const route = (c: RouteConfig, open = false) =>
    r.registerPath({
      ...c,
      responses: { ...common(c), ...c.responses },
      ...(open ? {} : { security: secured }),
    });

  // Product and auth
  route(
    {
      method: 'get',
      path: '/product/info',
      tags: ['product'],
      responses: { 200: json(ProductInfo, 'Product name, version and build date.') },
    },
    true,
  );
  route(
    {
      method: 'get',
      path: '/.well-known/jwks.json',
      tags: ['auth'],
      description:
        'The public keys access tokens are signed with (RFC 7517): the current key first, then keys still valid during a rotation. Cacheable.',
      responses: {
        200: json(
          z
            .object({
              keys: z.array(
                z
                  .object({
                    kty: z.string(),
                    kid: z.string(),
                    use: z.string().optional(),
                    alg: z.string().optional(),
                  })
                  .catchall(z.unknown()),
              ),
            })
            .openapi('JsonWebKeySet'),
          'The key set.',
        ),
      },
    },
    true,
  );
  route(
    {
      method: 'post',
      path: '/login',
      tags: ['auth'],
      request: { body: jsonBody(LoginRequest) },
      responses: {
        200: json(TokenResponse, 'Tokens.'),
        400: std[400],
        401: problem('Bad credentials, inactive user or locked out.'),
      },
    },
    true,
  );
  route(
    {
      method: 'post',
      path: '/login/refresh',
      tags: ['auth'],
      request: { body: jsonBody(RefreshRequest) },
      responses: {
        200: json(TokenResponse, 'New tokens; the refresh token is rotated.'),
        400: std[400],
        401: problem('Unknown, used or expired refresh token.'),
      },
    },
    true,
  );
  route({
    method: 'post',
    path: '/logout',
    tags: ['auth'],
    responses: { 204: { description: "The caller's refresh tokens are revoked." }, 401: std[401] },
  });
  route({
    method: 'get',
    path: '/user',
    tags: ['users'],
    responses: { 200: json(User, 'The caller.'), 401: std[401] },
  });
  route({
    method: 'get',
    path: '/users',
    tags: ['users'],
    request: { query: ListQuery },
    responses: {
      200: json(UserList, "The users of the caller's account (admins only)."),
      401: std[401],
      403: problem('Admins only.'),
    },
  });
  route({
    method: 'post',
    path: '/users',
    tags: ['users'],
    request: { body: jsonBody(CreateUserRequest) },
    responses: {
      201: json(User, 'Created.'),
      400: std[400],
      401: std[401],
      403: problem('Admins only.'),
      409: problem('The name is taken.'),
    },
  });
  route({
    method: 'get',
    path: '/users/{id}',
    tags: ['users'],
    request: { params: IdParam },
    responses: {
      200: json(User, 'The user (admins: any of their account; others: themselves).'),
      401: std[401],
      404: std[404],
    },
  });
  route({
    method: 'put',
    path: '/users/{id}',
    tags: ['users'],
    request: { params: IdParam, body: jsonBody(UpdateUserRequest) },
    responses: {
      200: json(User, 'Updated.'),
      400: std[400],
      401: std[401],
      403: problem('Admins only.'),
      404: std[404],
    },
  });
  route({
    method: 'post',
    path: '/users/{id}/password',
    tags: ['users'],
    request: { params: IdParam, body: jsonBody(ChangePasswordRequest) },
    responses: {
      204: { description: "Changed; the user's refresh tokens are revoked." },
      400: std[400],
      401: std[401],
      403: problem("Only admins change others' passwords."),
      404: std[404],
    },
  });

  route({
    method: 'get',
    path: '/account',
    tags: ['accounts'],
    responses: { 200: json(Account, "The caller's account."), 401: std[401] },
  });
  route({
    method: 'post',
    path: '/accounts',
    tags: ['accounts'],
    request: { body: jsonBody(CreateAccountRequest) },
    responses: {
      201: json(CreatedAccount, 'The new account and its first administrator.'),
      400: std[400],
      401: std[401],
      403: problem("Only administrators of the installation's first account create accounts."),
      409: problem("The administrator's name is taken."),
    },
  });

  // Audit trail
  route({
    method: 'get',
    path: '/audit',
    tags: ['audit'],
    request: { query: AuditQuery },
    responses: {
      200: json(
        AuditEventList,
        "Audit events of the caller's account, newest first unless sorted otherwise (admins only). Sort by time, action, actorId, resourceType, outcome.",
      ),
      400: std[400],
      401: std[401],
      403: problem('Admins only.'),
    },
  });

  // Job configurations
  route({
    method: 'get',
    path: '/jobconfigs',
    tags: ['jobconfigs'],
    request: { query: ListQuery },
    responses: { 200: json(JobConfigList, 'Configurations.'), 400: std[400], 401: std[401] },
  });
  route({
    method: 'post',
    path: '/jobconfigs',
    tags: ['jobconfigs'],
    request: { body: jsonBody(JobConfigInput) },
    responses: { 201: json(JobConfig, 'Created.'), 400: std[400], 401: std[401] },
  });
  route({
    method: 'get',
    path: '/jobconfigs/{id}',
    tags: ['jobconfigs'],
    request: { params: IdParam },
    responses: { 200: json(JobConfig, 'The configuration.'), ...std },
  });
  route({
    method: 'put',
    path: '/jobconfigs/{id}',
    tags: ['jobconfigs'],
    request: { params: IdParam, body: jsonBody(JobConfigInput) },
    responses: { 200: json(JobConfig, 'Replaced.'), ...std },
  });
  route({
    method: 'patch',
    path: '/jobconfigs/{id}',
    tags: ['jobconfigs'],
    request: { params: IdParam, body: jsonBody(JobConfigPatch) },
    responses: { 200: json(JobConfig, 'Merged.'), ...std },
  });
  route({
    method: 'delete',
    path: '/jobconfigs/{id}',
    tags: ['jobconfigs'],
    request: { params: IdParam },
    responses: {
      204: { description: 'Deleted with its files.' },
      ...std,
      409: problem('The configuration has unfinished jobs.'),
    },
  });
  route({
    method: 'get',
    path: '/jobconfigs/{id}/package/entrypoints',
    tags: ['jobconfigs'],
    request: { params: IdParam },
    responses: { 200: json(EntryPoints, 'Entry points of the selected package.'), ...std },
  });

  // Macros of a configuration (the same list as its runtimeConfig.macros)
  route({
    method: 'get',
    path: '/jobconfigs/{id}/macros',
    tags: ['macros'],
    request: { params: IdParam, query: ListQuery },
    responses: {
      200: json(
        MacroList,
        'Macros of the configuration; secure ones without their value. Sortable by `key`.',
      ),
      ...std,
    },
  });
  route({
    method: 'post',
    path: '/jobconfigs/{id}/macros',
    tags: ['macros'],
    description: '`key` (or its alias `name`) is required.',
    request: { params: IdParam, body: jsonBody(MacroRequest) },
    responses: {
      201: json(MacroResource, 'Created.'),
      ...std,
      409: problem('The configuration has a macro with this key already.'),
    },
  });
  route({
    method: 'get',
    path: '/jobconfigs/{id}/macros/{name}',
    tags: ['macros'],
    request: { params: MacroParams },
    responses: { 200: json(MacroResource, 'The macro; a secure one without its value.'), ...std },
  });
  route({
    method: 'put',
    path: '/jobconfigs/{id}/macros/{name}',
    tags: ['macros'],
    description:
      'Creates or replaces the macro. A value left out keeps the stored one (a secure value is write-only); `secure` left out keeps the stored flag; a secure macro made plain needs its new value.',
    request: { params: MacroParams, body: jsonBody(MacroRequest) },
    responses: {
      200: json(MacroResource, 'Replaced.'),
      201: json(MacroResource, 'Created.'),
      ...std,
    },
  });
  route({
    method: 'delete',
    path: '/jobconfigs/{id}/macros/{name}',
    tags: ['macros'],
    request: { params: MacroParams },
    responses: { 204: { description: 'Removed.' }, ...std },
  });

  route({
    method: 'post',
    path: '/jobconfigs/{id}/macrobindings',
    tags: ['macros'],
    description:
      "Confirms that the code the configuration runs now (its package file's version and entry point) may receive the secure macro values the caller may confirm: every one for an administrator, those they set for anyone else. A run receives a secure value only while the configuration runs the code the value was set or confirmed for, unless the configuration's owner set it; otherwise the job ends FAILED `secrets-withheld` before anything runs (docs/security.md, Secrets).",
    request: { params: IdParam },
    responses: {
      200: json(MacroBindingConfirmation, 'Confirmed; what runs still do not receive.'),
      ...std,
    },
  });

  // The schedule of a configuration (docs/api.md, "Schedules")
  const scheduleNote =
    'A Quartz-style cron expression with seconds in a time zone (default UTC), or an ISO-8601 interval; at most one fire a minute. Ticks missed while the platform was down follow `misfirePolicy`. Each tick submits one job, as the configuration owner, however many jobconfig replicas run.';
  route({
    method: 'get',
    path: '/jobconfigs/{id}/schedule',
    tags: ['schedules'],
    request: { params: IdParam },
    responses: {
      200: json(ScheduleResponse, 'The schedule.'),
      ...std,
      404: problem('No such configuration, or it has no schedule.'),
    },
  });
  route({
    method: 'put',
    path: '/jobconfigs/{id}/schedule',
    tags: ['schedules'],
    description: `Creates or replaces the schedule; its next fire time is computed from now. ${scheduleNote}`,
    request: { params: IdParam, body: jsonBody(ScheduleRequest) },
    responses: { 200: json(ScheduleResponse, 'Created or replaced.'), ...std },
  });
  route({
    method: 'post',
    path: '/jobconfigs/{id}/schedule',
    tags: ['schedules'],
    description: `Creates the schedule. ${scheduleNote}`,
    request: { params: IdParam, body: jsonBody(ScheduleRequest) },
    responses: {
      201: json(ScheduleResponse, 'Created.'),
      ...std,
      409: problem('The configuration has a schedule already; replace it with PUT.'),
    },
  });
  route({
    method: 'delete',
    path: '/jobconfigs/{id}/schedule',
    tags: ['schedules'],
    request: { params: IdParam },
    responses: {
      204: { description: 'Removed.' },
      ...std,
      404: problem('No such configuration, or it has no schedule.'),
    },
  });

  // Files
  route({
    method: 'get',
    path: '/jobconfigs/{id}/files',
    tags: ['files'],
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(FileList, 'Files attached to the configuration.'), ...std },
  });
  route({
    method: 'post',
    path: '/jobconfigs/{id}/files',
    tags: ['files'],
    description:
      'Upload as multipart/form-data (fields `key` and `file`) or as a raw application/octet-stream body with `?key=`.',
    request: {
      params: IdParam,
      query: z.object({ key: FileKey.optional() }),
      body: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: z.object({ key: FileKey, file: z.string().openapi({ format: 'binary' }) }),
          },
          'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) },
        },
      },
    },
    responses: {
      201: json(FileResource, 'Stored.'),
      200: json(FileResource, 'Replaced: a file with this key was attached already.'),
      ...std,
      413: problem('Larger than the configured limit.'),
    },
  });
  route({
    method: 'get',
    path: '/jobconfigs/{id}/files/{key}',
    tags: ['files'],
    request: { params: FileParams },
    responses: {
      200: {
        description:
          'The bytes, streamed, with Content-Length and ETag, in the content type they were stored with.',
        content: { '*/*': { schema: z.string().openapi({ format: 'binary' }) } },
      },
      ...std,
    },
  });
  route({
    method: 'put',
    path: '/jobconfigs/{id}/files/{key}',
    tags: ['files'],
    request: {
      params: FileParams,
      body: {
        required: true,
        content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
      },
    },
    responses: {
      200: json(FileResource, 'Replaced.'),
      201: json(FileResource, 'Created.'),
      ...std,
      413: problem('Larger than the configured limit.'),
    },
  });
  route({
    method: 'delete',
    path: '/jobconfigs/{id}/files/{key}',
    tags: ['files'],
    request: { params: FileParams },
    responses: { 204: { description: 'Removed.' }, ...std },
  });
  route({
    method: 'get',
    path: '/jobconfigs/{id}/files/entrypoints/{key}',
    tags: ['files'],
    request: { params: FileParams },
    responses: { 200: json(EntryPoints, 'Entry points of an attached package.'), ...std },
  });

  // Jobs
  route({
    method: 'post',
    path: '/jobconfigs/{id}/jobs',
    tags: ['jobs'],
    request: {
      params: IdParam,
      body: { required: false, content: { 'application/json': { schema: RunRequest } } },
    },
    responses: { 202: json(Job, 'Queued.'), ...std, 409: problem('The configuration is inactive.') },
  });
  route({
    method: 'get',
    path: '/jobconfigs/{id}/jobs',
    tags: ['jobs'],
    request: { params: IdParam, query: JobListQuery },
    responses: { 200: json(JobList, 'Jobs of the configuration.'), ...std },
  });
  route({
    method: 'get',
    path: '/jobs',
    tags: ['jobs'],
    request: { query: JobListQuery },
    responses: { 200: json(JobList, 'Jobs.'), 400: std[400], 401: std[401] },
  });
  route({
    method: 'get',
    path: '/jobs/{id}',
    tags: ['jobs'],
    request: { params: JobIdParam },
    responses: { 200: json(Job, 'The job.'), ...std },
  });
  route({
    method: 'delete',
    path: '/jobs/{id}',
    tags: ['jobs'],
    request: { params: JobIdParam },
    responses: { 202: json(Job, 'Cancelled (QUEUED) or being stopped (running).'), ...std },
  });
  route({
    method: 'get',
    path: '/jobs/events',
    tags: ['jobs'],
    request: { query: JobEventsQuery },
    responses: {
      200: {
        description:
          'A text/event-stream: first an `event: job` for each of the 50 newest jobs the caller may see, then one for ' +
          'every status change of those and of new jobs (`data` is the job as GET /jobs/{id} returns it), and a ' +
          'comment line every 15 s. It ends after maxSeconds or when the server shuts down.',
        content: { 'text/event-stream': { schema: z.string() } },
      },
      ...std,
    },
  });
  route({
    method: 'get',
    path: '/jobs/{id}/log',
    tags: ['jobs'],
    request: { params: JobIdParam, query: z.object({ follow: z.enum(['true', 'false']).optional() }) },
    responses: {
      200: {
        description: 'The job log as text; with follow=true it streams until the job ends.',
        content: { 'text/plain': { schema: z.string() } },
      },
      ...std,
    },
  });

  route({
    method: 'get',
    path: '/jobs/{id}/out/files',
    tags: ['jobs'],
    description:
      'The files the job wrote to its output directory, `$(LOCAL_JOB_OUT_DIR)` (uploaded when it ended), all on one page. ' +
      'A file in a subdirectory is named by its path (`reports/summary.json`); its `href` encodes the `/`.',
    request: { params: JobIdParam },
    responses: { 200: json(JobOutputFileList, 'The output files, by path.'), ...std },
  });
  route({
    method: 'get',
    path: '/jobs/{id}/out/files/{key}',
    tags: ['jobs'],
    description: 'One output file, streamed. `key` is its path, with `/` encoded as `%2F`.',
    request: { params: z.object({ id: Uuid, key: JobOutputPath }) },
    responses: {
      200: {
        description: 'The bytes, with Content-Length, as application/octet-stream.',
        content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
      },
      ...std,
    },
  });

  route({
    method: 'get',
    path: '/jobs/{id}/package',
    tags: ['jobs'],
    description:
      'The exact package the job ran (its last started attempt), even after the configuration’s package was replaced: ' +
      'the runner keeps those bytes by their sha256 (`ETag` and `X-Package-Sha256`). 404 before a runner started the job. ' +
      'With packageArtifactOverride, the package as uploaded, before the configuration files were copied in.',
    request: { params: JobIdParam },
    responses: {
      200: {
        description: 'The package bytes, with Content-Length, named in Content-Disposition.',
        content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
      },
      ...std,
    },
  });

  const generator = new OpenApiGeneratorV31(r.definitions);
  return nullableRefs(
    generator.generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'integration-manager API',
        version: info.version,
        description: 'The public REST API of integration-manager; it follows the Integration Manager API.',
      },
      servers: [{ url: info.serverUrl }],
    }),
  );
}

/**
 * zod-to-openapi writes a nullable reference (`ResourceRef.nullable()`) as `allOf: [{ $ref },
 * { type: ['object', 'null'] }]`, which no `null` satisfies (allOf needs the referenced object too):
 * found by schemathesis. Rewritten as `anyOf: [{ $ref }, { type: 'null' }]`.
 */
function nullableRefs<T>(doc: T): T {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const o = node as Record<string, unknown>;
    const all = o.allOf;
    if (Array.isArray(all) && all.length === 2) {
      const [ref, rest] = all as [Record<string, unknown>, Record<string, unknown>];
      const types = rest?.type;
      if (
        typeof ref?.$ref === 'string' &&
        Array.isArray(types) &&
        types.includes('null') &&
        Object.keys(rest).length === 1
      ) {
        const { allOf: _allOf, ...others } = o;
        return { ...others, anyOf: [ref, { type: 'null' }] };
      }
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, walk(v)]));
  };
  return walk(doc) as T;
}
