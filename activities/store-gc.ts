// Store garbage collection: by age and/or total size, least recently used first. Keys that
// running builds use are protected by the caller; recently used entries are protected here,
// because a step may have just got a hit and be about to hand the entry to the next step.
// The shared store and every partner's namespace are collected together, by one size budget.
// The remote store (store-oci.ts) is collected by the same rules: a registry keeps no access
// times, so an entry's last use is the annotation a hit refreshes (OciStore.touch).
import { reapAbandonedStaging } from './orphans';
import type { StepStore, StoreEntryInfo } from './store';
import type { OciStore, RemoteEntryInfo } from './store-oci';

export interface GcOptions {
  /** Remove entries not used for longer than this. */
  maxAgeMs?: number;
  /** Then remove least recently used entries until the store holds at most this many bytes. */
  maxTotalBytes?: number;
  /** Never removed: the keys running builds use. */
  protectedKeys?: ReadonlySet<string>;
  /** Entries used more recently than this are never removed. */
  minIdleMs?: number;
  dryRun?: boolean;
  now?: number;
  /** Also clean dead writers' staging (default); the cache's own evictions skip it. */
  reap?: boolean;
}

export interface GcResult {
  removed: Array<{ key: string; kind: string; bytes: number; lastUsed: string; tenant?: string }>;
  freedBytes: number;
  keptBytes: number;
  keptEntries: number;
  /** Abandoned staging directories of dead writers that were cleaned. */
  staleStaging: number;
}

type Located = StoreEntryInfo & { ns: StepStore };

export async function gcStore(store: StepStore, options: GcOptions): Promise<GcResult> {
  const now = options.now ?? Date.now();
  const entries: Located[] = [];
  for (const ns of [store, ...(await store.tenants())]) for (const info of await ns.list()) entries.push({ ...info, ns });
  const doomed = choose(entries, options, now);

  const result: GcResult = { removed: [], freedBytes: 0, keptBytes: 0, keptEntries: 0, staleStaging: 0 };
  for (const e of entries) {
    if (!doomed.has(e)) {
      result.keptBytes += e.bytes;
      result.keptEntries += 1;
      continue;
    }
    if (!options.dryRun) {
      // A step may have hit the entry since it was listed: then it is in use, keep it.
      const used = await e.ns.lastUsedMs(e.key);
      if (used !== undefined && used > e.lastUsedMs) {
        result.keptBytes += e.bytes;
        result.keptEntries += 1;
        continue;
      }
      if (!(await e.ns.remove(e.key))) continue;
    }
    const tenant = e.ns.tenant === undefined ? {} : { tenant: e.ns.tenant };
    result.removed.push({ key: e.key, kind: e.kind, bytes: e.bytes, lastUsed: new Date(e.lastUsedMs).toISOString(), ...tenant });
    result.freedBytes += e.bytes;
  }
  if (!options.dryRun && options.reap !== false) result.staleStaging = await reapAbandonedStaging(store);
  return result;
}

/** Which entries go: too old, then least recently used beyond the size budget; never protected or just used ones. */
function choose<E extends { key: string; lastUsedMs: number; bytes: number }>(entries: E[], options: GcOptions, now: number): Set<E> {
  const minIdleMs = options.minIdleMs ?? 10 * 60_000;
  const protectedKeys = options.protectedKeys ?? new Set<string>();
  entries.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  const removable = (e: E) => !protectedKeys.has(e.key) && now - e.lastUsedMs >= minIdleMs;
  const doomed = new Set<E>();
  if (options.maxAgeMs !== undefined) {
    for (const e of entries) if (removable(e) && now - e.lastUsedMs > options.maxAgeMs) doomed.add(e);
  }
  if (options.maxTotalBytes !== undefined) {
    let total = entries.reduce((sum, e) => (doomed.has(e) ? sum : sum + e.bytes), 0);
    for (const e of entries) {
      if (total <= options.maxTotalBytes) break;
      if (doomed.has(e) || !removable(e)) continue;
      doomed.add(e);
      total -= e.bytes;
    }
  }
  return doomed;
}

/**
 * gc over the registry: the shared repository and every tenant's. A manifest touched since it
 * was listed is kept (a build just hit it). Removing untags the entry; the registry's own
 * `garbage-collect` frees the blobs no manifest references any more.
 */
export async function gcRemoteStore(oci: OciStore, options: GcOptions): Promise<GcResult> {
  const now = options.now ?? Date.now();
  const entries: Array<RemoteEntryInfo & { tenant?: string }> = [];
  for (const tenant of [undefined, ...(await oci.tenants())]) {
    for (const info of await oci.list(tenant)) entries.push({ ...info, ...(tenant === undefined ? {} : { tenant }) });
  }
  const doomed = choose(entries, options, now);
  const result: GcResult = { removed: [], freedBytes: 0, keptBytes: 0, keptEntries: 0, staleStaging: 0 };
  for (const e of entries) {
    if (!doomed.has(e) || (!options.dryRun && !(await oci.remove(e.tenant, e.key, e.digest)))) {
      result.keptBytes += e.bytes;
      result.keptEntries += 1;
      continue;
    }
    result.removed.push({ key: e.key, kind: e.kind, bytes: e.bytes, lastUsed: new Date(e.lastUsedMs).toISOString(), ...(e.tenant === undefined ? {} : { tenant: e.tenant }) });
    result.freedBytes += e.bytes;
  }
  return result;
}
