// The bounded local cache in front of the remote store: the worker's store directory, kept
// under a byte budget by removing the least recently used entries (an entry's directory mtime
// is set at every hit). Entries used in the last minutes stay even over the budget: a step on
// this host may be reading them (the next step's input). What goes is still in the registry.
import { gcStore, type GcResult } from './store-gc';
import type { StepStore } from './store';

export class LruCache {
  /** Bytes held, as last measured plus what was added since. */
  private total: number | undefined;

  constructor(private readonly store: StepStore, readonly maxBytes: number, private readonly minIdleMs = 10 * 60_000) {}

  /** Records an entry that arrived (committed or pulled); evicts when over budget. */
  async added(bytes: number): Promise<GcResult | undefined> {
    this.total = this.total === undefined ? await this.measure() : this.total + bytes;
    return this.total > this.maxBytes ? this.evict() : undefined;
  }

  async evict(): Promise<GcResult> {
    const result = await gcStore(this.store, { maxTotalBytes: this.maxBytes, minIdleMs: this.minIdleMs, reap: false });
    this.total = result.keptBytes;
    return result;
  }

  private async measure(): Promise<number> {
    let n = 0;
    for (const ns of [this.store, ...(await this.store.tenants())]) for (const e of await ns.list()) n += e.bytes;
    return n;
  }
}
