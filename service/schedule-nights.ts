// The recent nights of a nightly schedule, for `sborka schedule list` and the dashboard:
// each night's build and state, what it waited for (open waits, approved reviews, the
// reason a night was skipped) and who the webhook `build.waiting` events went to.
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { nightOf, nightlyRuns } from '../activities/nightly';
import { SA_STATE } from '../workflows/search-attributes';
import type { Db } from './api/db';
import { buildView } from './builds';

export const NightWait = z.object({
  variantId: z.string(),
  step: z.string(),
  /** What it waits (or waited) for: the review's reason, or the failed step's error. */
  reason: z.string(),
  open: z.boolean(),
  /** An approved review: who approved it. */
  approvedBy: z.string().optional(),
});

export const NightNotice = z.object({
  /** The owner whose webhook received it, and the webhook's host. */
  owner: z.string(),
  host: z.string(),
  status: z.string(),
  at: z.string(),
});

export const NightRecord = z.object({
  buildId: z.string(),
  night: z.string(),
  state: z.string(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  /** A skipped night: why. */
  note: z.string().optional(),
  waits: z.array(NightWait),
  notified: z.array(NightNotice),
});
export type NightRecord = z.infer<typeof NightRecord>;
export type NightNotice = z.infer<typeof NightNotice>;

/** The `build.waiting` webhook deliveries of one build, from the API's database. */
export function waitingNotices(db: Db, buildId: string): NightNotice[] {
  const rows = db
    .prepare("SELECT owner, url, status, created_at FROM deliveries WHERE event = 'build.waiting' AND json_extract(payload, '$.build.buildId') = ? ORDER BY created_at")
    .all(buildId) as { owner: string; url: string; status: string; created_at: string }[];
  return rows.map((r) => ({ owner: r.owner, host: hostOf(r.url), status: r.status, at: r.created_at }));
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}

/** The product's nightly builds of the last `days` days, newest first. */
export async function recentNights(
  client: Client,
  product: string,
  timezone: string,
  notices: (buildId: string) => NightNotice[] = () => [],
  days = 7,
): Promise<NightRecord[]> {
  const out: NightRecord[] = [];
  for (const wf of await nightlyRuns(client, product, days)) {
    const open = wf.status.name === 'RUNNING';
    const state = open || wf.status.name === 'COMPLETED' ? String(wf.typedSearchAttributes.get(SA_STATE) ?? 'running') : wf.status.name.toLowerCase();
    const waits: z.infer<typeof NightWait>[] = [];
    let note: string | undefined;
    try {
      const view = await buildView(client, wf.workflowId);
      if (state === 'skipped') note = view.product.error;
      for (const v of view.variants) {
        for (const w of v.waiting) {
          const step = v.steps.find((s) => s.id === w.step);
          waits.push({ variantId: v.variantId, step: w.step, reason: w.reason ?? step?.error?.message ?? 'an operator decision', open: true });
        }
        for (const s of v.steps) {
          if (s.approval) waits.push({ variantId: v.variantId, step: s.id, reason: 'license review', open: false, ...(s.approval.by ? { approvedBy: s.approval.by } : {}) });
        }
      }
    } catch {
      // A build whose status cannot be read (no worker for an old run) still has its night and state.
    }
    out.push({
      buildId: wf.workflowId,
      night: nightOf(wf.workflowId, product, timezone) ?? '',
      state,
      startedAt: wf.startTime.toISOString(),
      ...(wf.closeTime ? { endedAt: wf.closeTime.toISOString() } : {}),
      ...(note ? { note } : {}),
      waits,
      notified: notices(wf.workflowId),
    });
  }
  return out;
}
