// Approving a license review. The workflow side (an update named 'approve' on BuildVariant,
// accepting the waiting verify-licenses step) is being written by the workflow engineer;
// this is the one place the API sends it, so only this file changes when it lands.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { defineUpdate } from '@temporalio/workflow';
import { buildView, variantWorkflowId } from '../builds';
import type { OperatorReply, OperatorRequest } from '../../workflows/contract';
import { conflict } from './http';

export const approveUpdate = defineUpdate<OperatorReply | { step: string; action: 'approve' }, [OperatorRequest]>('approve');

export async function approveReview(
  client: Client,
  buildId: string,
  opts: { variant?: string; step?: string; reason?: string },
): Promise<{ variantId: string; step: string; action: string }> {
  const { variants } = await buildView(client, buildId);
  const waiting = variants.filter((v) => v.state === 'waiting' && (!opts.variant || v.variantId === opts.variant));
  if (waiting.length === 0) throw conflict(`no variant of build "${buildId}"${opts.variant ? ` named "${opts.variant}"` : ''} waits for an operator`);
  if (waiting.length > 1) throw conflict(`several variants wait (${waiting.map((v) => v.variantId).join(', ')}): name one in "variant"`);
  const variant = waiting[0]!;
  const handle = client.workflow.getHandle(variantWorkflowId(buildId, variant.variantId));
  try {
    const reply = await handle.executeUpdate(approveUpdate, { args: [{ step: opts.step, reason: opts.reason }] });
    return { variantId: variant.variantId, step: reply.step, action: 'approve' };
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) throw conflict(`approve refused: ${e.cause?.message ?? e.message}`);
    // A workflow without the handler rejects the update as unknown: say so plainly.
    if (/handler|not found|unknown update/i.test((e as Error).message)) throw conflict(`this build's workflow cannot take an approval yet: ${(e as Error).message}`);
    throw e;
  }
}
