// `sborka serve`'s HTTP side: the JSON API, the dashboard's static files, and the webhook
// dispatcher, in one fastify instance. Every /api call is authenticated by token (looked
// up in SQLite on each request, so a revocation is immediate), rate-limited per token and,
// when it changes something, written to the audit log.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../../config/config';
import { recordAudit } from './audit';
import { metaValue, openApiDb, type Db } from './db';
import type { ApiDeps } from './deps';
import { ApiError, errorBody, type Principal } from './http';
import { RateLimiter, type RateLimitOptions } from './rate-limit';
import { RecipeStore } from './recipes';
import { artifactRoutes } from './routes/artifacts';
import { licenseRoutes } from './routes/licenses';
import { buildRoutes } from './routes/builds';
import { logRoutes } from './routes/logs';
import { matrixRoutes } from './routes/matrix';
import { metaRoutes } from './routes/meta';
import { recipeRoutes } from './routes/recipes';
import { scheduleRoutes } from './routes/schedules';
import { diffRoutes } from './routes/diff';
import { webhookRoutes } from './routes/webhooks';
import { verifyToken } from './tokens';
import { DEFAULT_WEBHOOK_OPTIONS, Webhooks, type WebhookOptions } from './webhooks';

export interface ApiServerOptions {
  config: Config;
  client: Client;
  logger: Logger;
  /** Let callers without a token in, as community (read-only, public builds). */
  anonymousCommunity?: boolean;
  rateLimit?: RateLimitOptions;
  /** Largest request body; recipes are far smaller, plans of big products approach it. */
  bodyLimit?: number;
  webhooks?: Partial<WebhookOptions>;
  /** Start the webhook dispatcher (default true). */
  dispatchWebhooks?: boolean;
  db?: Db;
}

export interface ApiServer {
  app: FastifyInstance;
  deps: ApiDeps;
  listen(port: number, host: string): Promise<string>;
  close(): Promise<void>;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
export const DASHBOARD_DIR = 'service/dashboard';
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : '';
}

export async function createApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const db = opts.db ?? openApiDb(opts.config.stateDir);
  const logger = opts.logger;
  const webhooks = new Webhooks(db, opts.client, logger.child({ component: 'webhooks' }), { ...DEFAULT_WEBHOOK_OPTIONS, ...opts.webhooks });
  const deps: ApiDeps = {
    config: opts.config,
    client: opts.client,
    db,
    logger,
    recipes: new RecipeStore(opts.config.stateDir, path.join(opts.config.projectRoot, 'products')),
    webhooks,
    linkKey: metaValue(db, 'link_key', () => randomBytes(32).toString('hex')),
  };
  const limiter = new RateLimiter(opts.rateLimit ?? { perSecond: 20, burst: 100 });

  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 4 * 1024 * 1024,
    // Ids of builds and steps may be long; the default (100) cuts some nightly ids.
    routerOptions: { maxParamLength: 500 },
    trustProxy: false,
  });

  app.addHook('onRequest', async (req, reply) => {
    const auth = req.routeOptions.config?.auth;
    if (auth !== 'token') return;
    const given = bearer(req);
    let principal: Principal | undefined;
    if (given) {
      const tok = verifyToken(db, given);
      if (!tok) {
        limitOrThrow(limiter, `ip:${req.ip}`);
        throw new ApiError(401, 'unauthorized', 'the token is unknown or revoked');
      }
      principal = { tokenId: tok.id, name: tok.name, role: tok.role };
    } else if (given === undefined && opts.anonymousCommunity) {
      principal = { name: 'anonymous', role: 'community' };
    } else {
      limitOrThrow(limiter, `ip:${req.ip}`);
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'unauthorized', 'send a token: Authorization: Bearer <token> (sborka token create)');
    }
    req.principal = principal;
    limitOrThrow(limiter, principal.tokenId ?? `ip:${req.ip}`);
  });

  app.addHook('onResponse', async (req, reply) => {
    if (!MUTATING.has(req.method) || !req.url.startsWith('/api/')) return;
    const p = req.principal;
    const params = (req.params ?? {}) as Record<string, string | undefined>;
    try {
      recordAudit(db, {
        tokenId: p?.tokenId,
        who: p?.name ?? 'unauthenticated',
        role: p?.role,
        method: req.method,
        route: req.routeOptions.url ?? req.url,
        url: req.url,
        target: req.auditTarget ?? params.id ?? params.name ?? params.owner,
        status: reply.statusCode,
        ip: req.ip,
      });
    } catch (e) {
      logger.error({ err: e }, 'audit log write failed');
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = errorBody(err);
    if (status >= 500) logger.error({ err, url: req.url }, 'request failed');
    if (status === 429 && err instanceof ApiError && err.details) reply.header('retry-after', String(err.details));
    if (reply.raw.headersSent) return;
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  metaRoutes(app, deps);
  recipeRoutes(app, deps);
  buildRoutes(app, deps);
  logRoutes(app, deps);
  artifactRoutes(app, deps);
  scheduleRoutes(app, deps);
  diffRoutes(app, deps);
  matrixRoutes(app, deps);
  webhookRoutes(app, deps);
  licenseRoutes(app, deps);
  dashboardRoutes(app, path.join(opts.config.projectRoot, DASHBOARD_DIR));

  await app.ready();
  if (opts.dispatchWebhooks !== false) webhooks.start();
  return {
    app,
    deps,
    async listen(port, host) {
      return app.listen({ port, host });
    },
    async close() {
      await webhooks.stop();
      await app.close();
      if (!opts.db) db.close();
    },
  };
}

function limitOrThrow(limiter: RateLimiter, key: string): void {
  const wait = limiter.take(key);
  if (wait > 0) throw new ApiError(429, 'rate_limited', `too many requests: try again in ${wait} s`, undefined, wait);
}

/** The dashboard: static files of one directory, served as they are (no build step). */
function dashboardRoutes(app: FastifyInstance, dir: string): void {
  const serve = (file: string) => async (_req: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const full = path.join(dir, file);
    if (!/^[a-z0-9-]+\.(html|js|css|svg)$/.test(file) || !fs.existsSync(full)) {
      return reply.code(404).send({ error: 'not_found', message: `no file ${file}` });
    }
    return reply
      .header('content-type', CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
      .send(fs.readFileSync(full));
  };
  app.get('/', { config: { auth: 'none' } }, serve('index.html'));
  app.get<{ Params: { file: string } }>('/dashboard/:file', { config: { auth: 'none' } }, (req, reply) => serve(req.params.file)(req, reply));
}
