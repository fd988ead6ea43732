// Approving a license review through the API: the 'approve' update of BuildVariant, sent
// by service/builds.ts like every operator action, with who approved it for the record.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { operatorAction } from '../builds';
import { conflict } from './http';

export async function approveReview(
  client: Client,
  buildId: string,
  opts: { variant?: string; step?: string; reason?: string; by?: string },
): Promise<{ variantId: string; step: string; action: string }> {
  try {
    const reply = await operatorAction(client, buildId, 'approve', { ...opts, by: opts.by ?? byFromReason(opts.reason) });
    return { variantId: reply.variantId, step: reply.step, action: reply.action };
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) throw conflict(`approve refused: ${e.cause?.message ?? e.message}`);
    if (/waits for a license review|several variants wait/.test((e as Error).message)) throw conflict(`approve refused: ${(e as Error).message}`);
    throw e;
  }
}

/**
 * The token's identity as the route writes it into the reason ("… (by <name>, <role>)"),
 * for a caller that does not pass `by` itself.
 */
function byFromReason(reason: string | undefined): string | undefined {
  const m = reason === undefined ? null : /\(by ([^()]+)\)$/.exec(reason);
  return m?.[1];
}
