// Whether a scheduled run of BuildProduct should build. The nightly schedules allow overlaps
// (service/schedules.ts), because Temporal's own overlap policy counts a build that waits
// for a person as running, so one unanswered review would skip every following night. The
// run asks here instead: it skips when its night already has a build (open, succeeded or
// failed: a catch-up or a double trigger never builds a night twice), or when an earlier
// nightly of the product is really running (not waiting for a person). Waiting builds stay
// open and resumable; they never hold the next night back.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { z } from 'zod';
import { SA_PRODUCT, SA_STATE } from '../workflows/search-attributes';

export const NightlyCheckInput = z.object({
  product: z.string(),
  /** `<product>-nightly-<nominal time>`, as the schedule named the run. */
  workflowId: z.string(),
  /** The asking run itself (an earlier run of the same id, a re-run of its night, is another). */
  runId: z.string().optional(),
  /** ISO start time of the asking run (ties between runs started at once go by id). */
  startedAt: z.string(),
  timezone: z.string(),
});
export type NightlyCheckInput = z.infer<typeof NightlyCheckInput>;

export const NightlyVerdict = z.object({
  /** Why this run builds nothing; absent: build. */
  skip: z.string().optional(),
  /** The build that made it skip. */
  other: z.string().optional(),
  otherRunId: z.string().optional(),
  /**
   * A catch-up of a night that was built runs under the same id (the server starts it anyway):
   * that build's result, so the id keeps showing the night's build instead of an empty run.
   */
  mirror: z.unknown().optional(),
});
export type NightlyVerdict = z.infer<typeof NightlyVerdict>;

export const nightlyPrefix = (product: string): string => `${product}-nightly-`;

/** The calendar night (YYYY-MM-DD in the schedule's timezone) of a nightly run id; undefined for other ids. */
export function nightOf(workflowId: string, product: string, timezone: string): string | undefined {
  const prefix = nightlyPrefix(product);
  if (!workflowId.startsWith(prefix)) return undefined;
  const at = Date.parse(workflowId.slice(prefix.length));
  return Number.isNaN(at) ? undefined : nightOfTime(new Date(at), timezone);
}

export function nightOfTime(at: Date, timezone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** A run that counts as the night's build: open, or closed as a build (not skipped, cancelled or terminated). */
function builds(wf: WorkflowExecutionInfo): boolean {
  const state = String(wf.typedSearchAttributes.get(SA_STATE) ?? 'running');
  if (state === 'skipped') return false;
  return ['RUNNING', 'COMPLETED', 'FAILED', 'TIMED_OUT'].includes(wf.status.name);
}

const earlier = (a: WorkflowExecutionInfo, startedAt: string, workflowId: string): boolean => {
  const t = a.startTime.toISOString();
  return t < startedAt || (t === startedAt && a.workflowId < workflowId);
};

/** Nightly runs of the product started in the last `days` days or still open, newest first. */
export async function nightlyRuns(client: Client, product: string, days = 3): Promise<WorkflowExecutionInfo[]> {
  if (/['"\\]/.test(product)) throw new Error(`refusing to quote product ${JSON.stringify(product)}`);
  const since = new Date(Date.now() - days * 86_400_000).toISOString();
  const query = `WorkflowType = 'BuildProduct' AND ${SA_PRODUCT.name} = '${product}' AND (ExecutionStatus = 'Running' OR StartTime >= '${since}')`;
  const out: WorkflowExecutionInfo[] = [];
  for await (const wf of client.workflow.list({ query })) {
    if (wf.workflowId.startsWith(nightlyPrefix(product))) out.push(wf);
  }
  return out.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
}

/** The verdict for one run, from the other nightly runs of its product. */
export function judgeNightly(input: NightlyCheckInput, runs: readonly WorkflowExecutionInfo[]): NightlyVerdict {
  const night = nightOf(input.workflowId, input.product, input.timezone);
  const self = (r: WorkflowExecutionInfo) => (input.runId === undefined ? r.workflowId === input.workflowId : r.runId === input.runId);
  const others = runs.filter((r) => !self(r) && builds(r));
  for (const r of others) {
    if (night === undefined || nightOf(r.workflowId, input.product, input.timezone) !== night) continue;
    const open = r.status.name === 'RUNNING';
    // Two runs of one night started at once: the earlier one builds.
    if (open && !earlier(r, input.startedAt, input.workflowId)) continue;
    const state = open ? String(r.typedSearchAttributes.get(SA_STATE) ?? 'running') : String(r.typedSearchAttributes.get(SA_STATE) ?? r.status.name.toLowerCase());
    return { skip: `the night of ${night} already has build ${r.workflowId} (${state})`, other: r.workflowId, otherRunId: r.runId };
  }
  for (const r of others) {
    if (r.status.name !== 'RUNNING' || !earlier(r, input.startedAt, input.workflowId)) continue;
    const state = String(r.typedSearchAttributes.get(SA_STATE) ?? 'running');
    // A build waiting for a person holds no slot; one still asking here ('pending', as the
    // schedule starts it) may yet skip itself, and a night must not be lost to that.
    if (state === 'waiting' || state === 'pending') continue;
    return { skip: `the earlier nightly ${r.workflowId} is still ${state}`, other: r.workflowId, otherRunId: r.runId };
  }
  return {};
}

export function createNightlyActivities(client: Client) {
  return {
    async nightlyCheck(raw: NightlyCheckInput): Promise<NightlyVerdict> {
      const input = NightlyCheckInput.parse(raw);
      const runs = await nightlyRuns(client, input.product);
      const verdict = judgeNightly(input, runs);
      const other = runs.find((r) => r.runId === verdict.otherRunId);
      if (verdict.skip === undefined || other?.workflowId !== input.workflowId || other.status.name !== 'COMPLETED') return verdict;
      const mirror: unknown = await client.workflow.getHandle(other.workflowId, other.runId).result();
      return { ...verdict, mirror };
    },
  };
}
export type NightlyActivities = ReturnType<typeof createNightlyActivities>;
