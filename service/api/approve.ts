// Approving a license review through the API: the 'approve' update of BuildVariant, sent
// by service/builds.ts like every operator action, with who approved it for the record.
// The approval is also remembered: one license decision per package the review asked about
// (service/api/decisions.ts), scoped to the build's product and owner and to the exact
// version judged, so the next build of that product does not ask again. The review's report
// is read from the step's store entry (service/step-file.ts), so an approval made on any host
// of a farm records them, not only on the host that ran the step.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../../config/config';
import type { Decision } from '../../licenses/decisions';
import { fullVersion, type PackageResult } from '../../licenses/policy';
import type { LicenseReport } from '../../licenses/report';
import type { Owner } from '../../plan/plan';
import { ownerLabel } from '../../workflows/search-values';
import { buildView, operatorAction, planOfBuild } from '../builds';
import { readStepFile, storeOf } from '../step-file';
import { newDecisionId, recordDecisions, revokeDecision, type Actor } from './decisions';
import type { Db } from './db';
import { conflict } from './http';

export interface RememberApproval {
  db: Db;
  stateDir: string;
  /** This host's configuration: the store the review's report is read through. */
  config: Config;
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
 * approve` both). A report the store does not hold soundly records none: the approval stands.
 */
async function rememberApproval(client: Client, buildId: string, target: { variantId: string; step: string }, remember: RememberApproval, reason?: string): Promise<Decision[]> {
  try {
    const plan = await planOfBuild(client, buildId);
    const owner = remember.owner ?? ownerLabel(plan.owner);
    const decisions = await decisionsFromReport(client, buildId, target.variantId, target.step, { ...remember, owner, planOwner: plan.owner }, reason);
    recordDecisions(remember.db, remember.actor, decisions, { buildId, stateDir: remember.stateDir });
    return decisions;
  } catch (e) {
    remember.logger?.warn({ err: e, buildId }, 'approving without license decisions: none could be recorded');
    return [];
  }
}

/**
 * One decision per package the approved step sent to review, read from the license-report.json
 * of its store entry: a review verdict is a success, committed (and pushed) before the step waits.
 */
async function decisionsFromReport(client: Client, buildId: string, variantId: string, stepId: string, r: RememberApproval & { owner: string; planOwner: Owner }, reason: string | undefined): Promise<Decision[]> {
  const view = await buildView(client, buildId);
  const variant = view.variants.find((v) => v.variantId === variantId);
  const step = variant?.steps.find((s) => s.id === stepId);
  if (!variant || !step?.key) return [];
  const bytes = await readStepFile(storeOf({ config: r.config, ...(r.logger ? { logger: r.logger } : {}) }), { key: step.key, owner: r.planOwner }, 'license-report.json');
  if (!bytes) throw new Error(`step ${stepId}'s store entry ${step.key} (or its license-report.json) is not in the store`);
  const report = JSON.parse(bytes.toString('utf8')) as LicenseReport;
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
