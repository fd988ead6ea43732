// The service itself: health, the OpenAPI document, who the token is, the audit log.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import packageJson from '../../../package.json';
import { AuditEntry, listAudit } from '../audit';
import type { ApiDeps } from '../deps';
import { forbidden, route } from '../http';
import { openApiDocument } from '../openapi';
import { permissions, Role } from '../roles';

export const Me = z.object({
  name: z.string(),
  role: Role,
  tokenId: z.string().optional(),
  permissions: z.object({
    submit: z.boolean(),
    schedules: z.boolean(),
    approve: z.boolean(),
    audit: z.boolean(),
    /** May see and make license decisions (in its own scope; roles.ts). */
    decisions: z.boolean(),
    actions: z.array(z.string()),
  }),
});

export function metaRoutes(app: FastifyInstance, deps: ApiDeps): void {
  route(app, {
    method: 'GET', url: '/healthz', summary: 'liveness: the process answers and Temporal is reachable', tags: ['service'], auth: 'none',
    response: { description: 'healthy', schema: z.object({ ok: z.boolean(), temporal: z.boolean() }) },
  }, async () => {
    const temporal = await deps.client.workflowService.getSystemInfo({}).then(() => true, () => false);
    return { ok: true, temporal };
  });

  route(app, {
    method: 'GET', url: '/openapi.json', summary: 'this document', tags: ['service'], auth: 'none',
    response: { description: 'OpenAPI 3.1', schema: z.record(z.string(), z.unknown()) },
  }, async () => openApiDocument(app, packageJson.version));

  route(app, {
    method: 'GET', url: '/api/me', summary: 'the caller: token name, role and what the role may do', tags: ['service'],
    response: { description: 'the caller', schema: Me }, names: { response: 'Me' },
  }, async ({ principal }) => ({
    name: principal.name,
    role: principal.role,
    ...(principal.tokenId ? { tokenId: principal.tokenId } : {}),
    permissions: permissions(principal.role),
  }));

  route(app, {
    method: 'GET', url: '/api/audit', summary: 'the audit log of mutating calls, newest first (admin)', tags: ['service'],
    query: z.object({
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      target: z.string().max(300).optional().describe('a build id, recipe name, schedule or owner'),
      who: z.string().max(200).optional().describe('a token id or name'),
    }),
    response: { description: 'entries', schema: z.object({ entries: z.array(AuditEntry) }) }, names: { response: 'AuditLog' },
  }, async ({ principal, query }) => {
    if (principal.role !== 'admin') throw forbidden('only admins read the audit log');
    return { entries: listAudit(deps.db, query) };
  });
}
