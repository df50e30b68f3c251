import { z } from '@im/contracts';
import type { ExecutorLogger } from '../executor.logger';
import type { ExecutorSpec } from '../executor.protocol';
import type { JobServices } from '../step.registry';

/**
 * One item a source yields: a row, or a piece of input that could not be read as a row (a bad JSON
 * line), which the transform step rejects with stage `read`. `position` says where in the input it
 * is (`line 12`, `element 3`, `row 7`, `page 2 item 5`).
 */
export type SourceItem =
  | { readonly ok: true; readonly row: unknown; readonly position: string }
  | { readonly ok: false; readonly raw: string; readonly position: string; readonly reason: string };

/**
 * Rows, one at a time, with backpressure: the next row is read only when the consumer asks for it.
 * Stopping the iteration early (`break`, an error) releases what the source holds.
 */
export type RowSource = AsyncIterable<SourceItem>;

/** A row the target refused (stage `load`): the transform step writes it to the reject file. */
export interface LoadReject {
  row: unknown;
  position: string;
  reason: string;
}

/**
 * Where rows go. `write` resolves when the target can take the next row (backpressure); a batching
 * target returns the rows of a batch it refused when that batch is sent. Nothing is final before
 * `close` resolves; `abort` undoes what can be undone (a transaction rolled back, a partial file
 * removed, an upload abandoned).
 */
export interface RowSink {
  write(row: unknown, position: string): Promise<readonly LoadReject[]>;
  close(): Promise<readonly LoadReject[]>;
  abort(): Promise<void>;
}

export interface ConnectorContext {
  spec: ExecutorSpec;
  /** The step's logger. */
  logger: ExecutorLogger;
  services: JobServices;
  /** The step's path (`load`, `nightly/load`), for messages. */
  stepPath: string;
}

/** A validated source configuration, ready to open. */
export interface BoundSource {
  readonly connector: string;
  /** For the log: what is read, without credentials (`csv data/customers.csv`). */
  readonly description: string;
  open(ctx: ConnectorContext): RowSource;
}

/** A validated target configuration, ready to open. */
export interface BoundTarget {
  readonly connector: string;
  readonly description: string;
  open(ctx: ConnectorContext): Promise<RowSink>;
}

export interface RoleDefinition<S extends z.ZodType<object>, R> {
  /** The role's fields besides `connector` (a `z.strictObject`, so misspelt fields are errors). */
  fields: S;
  describe(config: z.output<S>): string;
  open(config: z.output<S>, ctx: ConnectorContext): R;
}

type ParseResult<B> = { ok: true; bound: B } | { ok: false; issues: readonly z.core.$ZodIssue[] };

export interface ConnectorHandler {
  readonly name: string;
  readonly source: { parse(raw: Record<string, unknown>): ParseResult<BoundSource> } | undefined;
  readonly target: { parse(raw: Record<string, unknown>): ParseResult<BoundTarget> } | undefined;
}

export type ConnectorRegistry = Readonly<Record<string, ConnectorHandler>>;

function bind<S extends z.ZodType<object>, R, B>(
  name: string,
  role: RoleDefinition<S, R>,
  make: (description: string, open: (ctx: ConnectorContext) => R) => B,
): { parse(raw: Record<string, unknown>): ParseResult<B> } {
  return {
    parse(raw) {
      const own: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw)) if (k !== 'connector') own[k] = v;
      const r = role.fields.safeParse(own);
      if (!r.success) return { ok: false, issues: r.error.issues };
      const config = r.data;
      return {
        ok: true,
        bound: make(`${name} ${role.describe(config)}`, (ctx) => role.open(config, ctx)),
      };
    },
  };
}

/**
 * Defines a connector: a source (rows out), a target (rows in), or both, each with the schema of its
 * own fields. The registry is a `Record<name, ConnectorHandler>`, like the steps'.
 */
export function defineConnector<
  S extends z.ZodType<object> = z.ZodType<object>,
  T extends z.ZodType<object> = z.ZodType<object>,
>(
  name: string,
  roles: { source?: RoleDefinition<S, RowSource>; target?: RoleDefinition<T, Promise<RowSink>> },
): ConnectorHandler {
  return {
    name,
    source: roles.source
      ? bind(name, roles.source, (description, open): BoundSource => ({ connector: name, description, open }))
      : undefined,
    target: roles.target
      ? bind(name, roles.target, (description, open): BoundTarget => ({ connector: name, description, open }))
      : undefined,
  };
}

export function createConnectorRegistry(handlers: readonly ConnectorHandler[]): ConnectorRegistry {
  const out: Record<string, ConnectorHandler> = {};
  for (const h of handlers) {
    if (out[h.name]) throw new Error(`Connector '${h.name}' is registered twice.`);
    out[h.name] = h;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function connectorField<B>(
  registry: ConnectorRegistry,
  role: 'source' | 'target',
  parse: (h: ConnectorHandler, raw: Record<string, unknown>) => ParseResult<B> | undefined,
) {
  const names = () =>
    Object.values(registry)
      .filter((h) => h[role] !== undefined)
      .map((h) => h.name)
      .sort()
      .join(', ');
  return z.unknown().transform((raw, ctx): B => {
    if (!isRecord(raw)) {
      ctx.addIssue({
        code: 'custom',
        message: `${raw === undefined ? 'required: ' : 'must be '}an object with a 'connector' (one of: ${names()})`,
      });
      return z.NEVER;
    }
    const name = raw.connector;
    if (typeof name !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['connector'], message: `required, one of: ${names()}` });
      return z.NEVER;
    }
    const handler = Object.hasOwn(registry, name) ? registry[name] : undefined;
    const result = handler ? parse(handler, raw) : undefined;
    if (!result) {
      ctx.addIssue({
        code: 'custom',
        path: ['connector'],
        message: handler
          ? `connector '${name}' cannot be a ${role} (${role}s: ${names()})`
          : `unknown connector '${name}' (known ${role}s: ${names()})`,
      });
      return z.NEVER;
    }
    if (!result.ok) {
      for (const issue of result.issues) ctx.addIssue(issue as z.core.$ZodRawIssue);
      return z.NEVER;
    }
    return result.bound;
  });
}

/** A step field holding a source configuration (`{ connector: csv, path: … }`), validated by its connector. */
export function sourceField(registry: ConnectorRegistry) {
  return connectorField<BoundSource>(registry, 'source', (h, raw) => h.source?.parse(raw));
}

/** A step field holding a target configuration, validated by its connector. */
export function targetField(registry: ConnectorRegistry) {
  return connectorField<BoundTarget>(registry, 'target', (h, raw) => h.target?.parse(raw));
}
