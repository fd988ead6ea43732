// gc of the step logs in the remote store (log-store.ts), beside the entries' gc (store-gc.ts).
import type { LogStore } from './log-store';
import type { GcOptions } from './store-gc';

export interface LogGcResult { removed: number; freedBytes: number; kept: number }

/**
 * Step logs in the registry, by age only: a log is evidence of a build, not a cache entry, so
 * no size budget evicts one; a log last written longer than maxAgeMs ago goes. A running
 * step's log is written every few seconds and one a new chunk reached since listing is kept.
 */
export async function gcRemoteLogs(logs: LogStore, options: Pick<GcOptions, 'maxAgeMs' | 'now' | 'dryRun'>): Promise<LogGcResult> {
  const now = options.now ?? Date.now();
  const result: LogGcResult = { removed: 0, freedBytes: 0, kept: 0 };
  for (const tenant of [undefined, ...(await logs.tenants())]) {
    for (const log of await logs.list(tenant)) {
      const old = options.maxAgeMs !== undefined && now - log.updatedMs > options.maxAgeMs;
      if (old && (options.dryRun || (await logs.remove(log)))) {
        result.removed += 1;
        result.freedBytes += log.bytes;
      } else {
        result.kept += 1;
      }
    }
  }
  return result;
}
