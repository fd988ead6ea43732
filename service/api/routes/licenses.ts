// License decisions: list, make, revoke, export and import (service/api/decisions.ts).
// Each role sees and makes them in its own scope (roles.ts); every change is audited by
// the server's hook and again, per decision, by decisions.ts.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Decision, DecisionFile } from '../../../licenses/decisions';
import type { ApiDeps } from '../deps';
import { DecisionError, exportDecisions, importDecisions, listDecisions, newDecisionId, recordDecisions, revokeDecision } from '../decisions';
import { ApiError, route } from '../http';

const Stored = Decision.extend({ buildId: z.string().optional(), revokedAt: z.string().optional(), revokedBy: z.string().optional() });
/** What a caller says; who and when are the server's. */
const NewDecision = Decision.omit({ id: true, by: true, at: true });
const IdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/) });

function apiError(e: unknown): never {
  if (e instanceof DecisionError) throw new ApiError(e.status, e.status === 403 ? 'forbidden' : e.status === 404 ? 'not_found' : 'bad_request', e.message);
  throw e;
}

export function licenseRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { db } = deps;
  const stateDir = deps.config.stateDir;

  route(app, {
    method: 'GET', url: '/api/license-decisions', summary: 'recorded license decisions the token may see', tags: ['licenses'],
    query: z.object({ package: z.string().max(300).optional(), revoked: z.enum(['true', 'false']).optional() }),
    response: { description: 'decisions', schema: z.object({ decisions: z.array(Stored) }) }, names: { response: 'LicenseDecisionList' },
  }, async ({ principal, query }) => ({
    decisions: listDecisions(db, principal.role, { ...(query.package ? { package: query.package } : {}), revoked: query.revoked === 'true' }),
  }));

  route(app, {
    method: 'POST', url: '/api/license-decisions', summary: 'record license decisions (global ones: admins and maintainers)', tags: ['licenses'],
    body: z.object({ decisions: z.array(NewDecision).min(1).max(10_000) }), status: 201,
    response: { description: 'recorded', schema: z.object({ decisions: z.array(Stored) }) }, names: { body: 'LicenseDecisionsNew', response: 'LicenseDecisionList' },
  }, async ({ principal, body }) => {
    const at = new Date().toISOString();
    try {
      return { decisions: recordDecisions(db, principal, body.decisions.map((d) => ({ ...d, id: newDecisionId(), by: principal.name, at })), { stateDir }) };
    } catch (e) {
      return apiError(e);
    }
  });

  route(app, {
    method: 'DELETE', url: '/api/license-decisions/:id', summary: 'revoke a license decision', tags: ['licenses'], params: IdParams,
    response: { description: 'revoked', schema: z.object({ decision: Stored }) },
  }, async ({ principal, params, req }) => {
    req.auditTarget = params.id;
    try {
      return { decision: revokeDecision(db, principal, params.id, stateDir) };
    } catch (e) {
      return apiError(e);
    }
  });

  route(app, {
    method: 'GET', url: '/api/license-decisions/export', summary: 'the live decisions the token may see, as a decisions file', tags: ['licenses'],
    response: { description: 'a decisions file', schema: DecisionFile }, names: { response: 'LicenseDecisionFile' },
  }, async ({ principal }) => exportDecisions(db, principal.role));

  route(app, {
    method: 'POST', url: '/api/license-decisions/import', summary: 'record the decisions of a decisions file (all or none)', tags: ['licenses'],
    body: DecisionFile,
    response: { description: 'imported', schema: z.object({ recorded: z.number().int(), unchanged: z.number().int() }) }, names: { body: 'LicenseDecisionFile' },
  }, async ({ principal, body }) => {
    try {
      return importDecisions(db, principal, body, stateDir);
    } catch (e) {
      return apiError(e);
    }
  });
}
