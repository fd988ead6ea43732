// Which store keys running builds still need: every key a step of a running variant
// produced (later steps read them). gc must never remove these.
import type { Client } from '@temporalio/client';
import { variantStatusQuery } from '../workflows/api';
import { VariantStatus } from '../workflows/status';

export async function keysInUse(client: Client): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'BuildVariant' AND ExecutionStatus = 'Running'` })) {
    const status = VariantStatus.parse(await client.workflow.getHandle(wf.workflowId, wf.runId).query(variantStatusQuery));
    for (const step of status.steps) if (step.key) keys.add(step.key);
  }
  return keys;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
