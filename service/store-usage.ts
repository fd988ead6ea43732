// Which store keys running builds still need: every key a step of a running variant
// produced (later steps read them). gc must never remove these. And what each tenant holds.
import type { Client } from '@temporalio/client';
import type { StepStore } from '../activities/store';
import type { OciStore } from '../activities/store-oci';
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

/** One namespace's share of a store: what admins see per tenant (`sborka store usage`). */
export interface NamespaceUsage {
  /** Absent for the shared namespace. */
  tenant?: string;
  entries: number;
  bytes: number;
}

export interface StoreUsage {
  local: NamespaceUsage[];
  /** The registry's namespaces, when a remote store is configured. */
  remote?: NamespaceUsage[];
}

/** Entries and bytes per namespace, in the local directory and in the remote store. */
export async function storeUsage(store: StepStore, oci?: OciStore): Promise<StoreUsage> {
  const local: NamespaceUsage[] = [];
  for (const ns of [store, ...(await store.tenants())]) {
    const infos = await ns.list();
    local.push({ ...(ns.tenant === undefined ? {} : { tenant: ns.tenant }), entries: infos.length, bytes: infos.reduce((s, e) => s + e.bytes, 0) });
  }
  if (!oci) return { local };
  const remote: NamespaceUsage[] = [];
  for (const tenant of [undefined, ...(await oci.tenants())]) {
    const infos = await oci.list(tenant);
    remote.push({ ...(tenant === undefined ? {} : { tenant }), entries: infos.length, bytes: infos.reduce((s, e) => s + e.bytes, 0) });
  }
  return { local, remote };
}
