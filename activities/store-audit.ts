// `sborka store verify`: every entry of the shared store and of every partner's namespace,
// hashed in full (the fingerprint shortcut of lookups is not taken).
import type { StepStore } from './store';

export interface AuditedEntry {
  key: string;
  tenant?: string;
  /** Why the entry is bad; absent when it is sound. */
  reason?: string;
  /** Where it went, when quarantining was asked for. */
  movedTo?: string;
}

export interface AuditResult {
  checked: number;
  bad: AuditedEntry[];
}

export async function auditStore(
  store: StepStore,
  options: { quarantine?: boolean; onEntry?: (entry: AuditedEntry, done: number, total: number) => void } = {},
): Promise<AuditResult> {
  const work: Array<{ ns: StepStore; key: string }> = [];
  for (const ns of [store, ...(await store.tenants())]) for (const key of await ns.keys()) work.push({ ns, key });
  const result: AuditResult = { checked: 0, bad: [] };
  for (const { ns, key } of work) {
    const problem = await ns.verify(key, { quarantine: options.quarantine });
    const entry: AuditedEntry = { key, ...(ns.tenant === undefined ? {} : { tenant: ns.tenant }), ...(problem ?? {}) };
    result.checked += 1;
    if (problem) result.bad.push(entry);
    options.onEntry?.(entry, result.checked, work.length);
  }
  return result;
}
