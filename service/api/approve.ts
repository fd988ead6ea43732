// Approving a license review through the API: the 'approve' update of BuildVariant, sent
// by service/builds.ts like every operator action, with who approved it for the record.
// The approval is also remembered: one license decision per package the review asked about
// (service/api/decisions.ts), scoped to the build's product and owner and to the exact
// version judged, so the next build of that product does not ask again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Decision } from '../../licenses/decisions';
import { fullVersion, type PackageResult } from '../../licenses/policy';
import type { LicenseReport } from '../../licenses/report';
import { ownerLabel } from '../../workflows/search-values';
import { buildView, operatorAction, planOfBuild } from '../builds';
import { newDecisionId, recordDecisions, revokeDecision, type Actor } from './decisions';
import type { Db } from './db';
import { conflict } from './http';

export interface RememberApproval {
  db: Db;
  stateDir: string;
  actor: Actor;
  /** The build's owner label (community, maintainer:<team>, partner:<name>); read from the build's plan when absent. */
  owner?: string;
  logger?: Logger;
}

export async function approveReview(
  client: Client,
  buildId: string,
  opts: { variant?: string; step?: string; reason?: string; by?: string },
  remember?: RememberApproval,
): Promise<{ variantId: string; step: string; action: string; decisions?: number }> {
  // Decisions are recorded before the update: the approved step runs again at once and its
  // rerun must see them (a refused approval revokes them again).
  let recorded = 0;
  const before = remember
    ? async (target: { variantId: string; step: string }) => {
        const decisions = await rememberApproval(client, buildId, target, remember, opts.reason);
        recorded = decisions.length;
        return () => {
          for (const d of decisions) revokeDecision(remember.db, remember.actor, d.id, remember.stateDir);
        };
      }
    : undefined;
  let reply;
  try {
    reply = await operatorAction(client, buildId, 'approve', { ...opts, by: opts.by ?? byFromReason(opts.reason) }, before);
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) throw conflict(`approve refused: ${e.cause?.message ?? e.message}`);
    if (/waits for a license review|several variants wait/.test((e as Error).message)) throw conflict(`approve refused: ${(e as Error).message}`);
    throw e;
  }
  const out = { variantId: reply.variantId, step: reply.step, action: reply.action };
  return remember ? { ...out, decisions: recorded } : out;
}

/**
 * Records the decisions of an approval about to be sent (the API's route and `sborka
 * approve` both). A report this host cannot read records none: the approval itself stands.
 */
async function rememberApproval(client: Client, buildId: string, target: { variantId: string; step: string }, remember: RememberApproval, reason?: string): Promise<Decision[]> {
  try {
    const owner = remember.owner ?? ownerLabel((await planOfBuild(client, buildId)).owner);
    const decisions = await decisionsFromReport(client, buildId, target.variantId, target.step, { ...remember, owner }, reason);
    recordDecisions(remember.db, remember.actor, decisions, { buildId, stateDir: remember.stateDir });
    return decisions;
  } catch (e) {
    remember.logger?.warn({ err: e, buildId }, 'approving without license decisions: none could be recorded');
    return [];
  }
}

/** One decision per package the approved step sent to review, read from its license-report.json. */
async function decisionsFromReport(client: Client, buildId: string, variantId: string, stepId: string, r: RememberApproval & { owner: string }, reason: string | undefined): Promise<Decision[]> {
  const view = await buildView(client, buildId);
  const variant = view.variants.find((v) => v.variantId === variantId);
  const step = variant?.steps.find((s) => s.id === stepId);
  if (!variant || !step?.outputDir) return [];
  const report = JSON.parse(fs.readFileSync(path.join(step.outputDir, 'license-report.json'), 'utf8')) as LicenseReport;
  const at = new Date().toISOString();
  const why = (reason ?? 'approved').replace(/\s*\(by [^()]+\)$/, '') || 'approved';
  return report.violations.filter((p: PackageResult) => p.status === 'review').map((p) => ({
    id: newDecisionId(),
    package: p.package.name,
    versions: `= ${fullVersion(p.package)}`,
    expression: p.expression,
    scope: { kind: 'product', owner: r.owner, product: variant.product },
    by: r.actor.name,
    reason: `${why} (review of ${buildId})`,
    at,
  }));
}

/**
 * The token's identity as the route writes it into the reason ("… (by <name>, <role>)"),
 * for a caller that does not pass `by` itself.
 */
function byFromReason(reason: string | undefined): string | undefined {
  const m = reason === undefined ? null : /\(by ([^()]+)\)$/.exec(reason);
  return m?.[1];
}
