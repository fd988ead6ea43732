// The small frame every route is declared with: zod schemas for params, query, body and
// responses (validated here, so a bad request is a 400 naming each field's path), the
// access it needs, and its OpenAPI entry. Routes live in routes/*.ts, one file per resource.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Role } from './roles';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly issues?: Issue[], readonly details?: unknown) {
    super(message);
    this.name = 'ApiError';
  }
}

export const Issue = z.object({ path: z.string(), message: z.string() });
export type Issue = z.infer<typeof Issue>;

export const ErrorBody = z.object({
  error: z.string().describe('stable code: bad_request, unauthorized, forbidden, not_found, conflict, too_large, rate_limited, internal'),
  message: z.string(),
  issues: z.array(Issue).optional().describe('for bad_request: every invalid field, by its path (body.plan.variants[0].id)'),
  details: z.unknown().optional().describe('for invalid_recipe (422): the validation, with every diagnostic'),
});

export const notFound = (what: string) => new ApiError(404, 'not_found', what);
export const forbidden = (why: string) => new ApiError(403, 'forbidden', why);
export const conflict = (why: string) => new ApiError(409, 'conflict', why);
export const badRequest = (message: string, issues?: Issue[]) => new ApiError(400, 'bad_request', message, issues);

/** `body.plan.variants[0].steps[1].kind` from a zod path. */
export function formatPath(where: string, path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), where);
}

export function zodIssues(where: string, error: z.ZodError): Issue[] {
  const out: Issue[] = [];
  for (const i of error.issues) {
    // A union names no field itself: report the branch that got furthest, so the path is useful.
    if (i.code === 'invalid_union' && i.errors.length > 0) {
      const best = [...i.errors].sort((a, b) => deepest(b) - deepest(a))[0]!;
      out.push(...zodIssues(formatPath(where, i.path), new z.ZodError(best)));
      continue;
    }
    out.push({ path: formatPath(where, i.path), message: i.message });
  }
  return out;
}
const deepest = (issues: z.core.$ZodIssue[]) => Math.max(0, ...issues.map((i) => i.path.length));

export interface Principal {
  /** Undefined for an anonymous caller (only when the server lets them in as community). */
  tokenId?: string;
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    auditTarget?: string;
  }
  interface FastifyContextConfig {
    auth?: 'none' | 'token';
  }
}

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  summary: string;
  tags: string[];
  /** Default 'token': a valid token (or anonymous community, if allowed) is required. */
  auth?: 'none' | 'token';
  params?: P;
  query?: Q;
  body?: B;
  /** The success status and its body; error statuses are documented for every route. */
  status?: number;
  response: ResponseSpec;
  /** Names the request and response schemas in the OpenAPI components. */
  names?: { body?: string; response?: string };
}

export interface Ctx<P, Q, B> {
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  req: FastifyRequest;
  reply: FastifyReply;
}

type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;
const registries = new WeakMap<FastifyInstance, AnyRoute[]>();

/** The routes declared on this server, for its OpenAPI document. */
export function routesOf(app: FastifyInstance): AnyRoute[] {
  return registries.get(app) ?? [];
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> {
  if (!schema) return undefined as z.infer<T>;
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`invalid ${where}`, zodIssues(where, r.error));
  return r.data;
}

/**
 * Registers a route. The handler returns the body (sent as JSON with `status`) or the
 * reply itself when it has streamed something (a file, server-sent events).
 */
export function route<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
  app: FastifyInstance,
  spec: RouteSpec<P, Q, B>,
  handler: (ctx: Ctx<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<unknown>,
): void {
  const list = registries.get(app) ?? [];
  registries.set(app, list);
  list.push(spec as unknown as AnyRoute);
  app.route({
    method: spec.method,
    url: spec.url,
    config: { auth: spec.auth ?? 'token' },
    handler: async (req, reply) => {
      const params = parse(spec.params, req.params, 'params');
      const query = parse(spec.query, req.query, 'query');
      const body = parse(spec.body, req.body ?? {}, 'body');
      const principal = req.principal ?? { name: 'anonymous', role: 'community' };
      const out = await handler({ principal, params, query, body, req, reply });
      if (out === reply) return reply;
      reply.code(spec.status ?? 200);
      return out;
    },
  });
}

/** Fastify's own errors (bad JSON, too large a body) and ours, in one JSON shape. */
export function errorBody(err: unknown): { status: number; body: z.infer<typeof ErrorBody> } {
  if (err instanceof ApiError) return { status: err.status, body: { error: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}), ...(err.details !== undefined ? { details: err.details } : {}) } };
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, body: { error: 'too_large', message: e.message ?? 'body too large' } };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: 'bad_request', message: e.message ?? 'bad request', issues: [{ path: 'body', message: e.message ?? '' }] } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error; the server log has the details' } };
}
