// Nightly builds as Temporal Schedules, kept in step with the recipes by `schedule sync`.
// The server names each run `<workflowId>-<nominal time>`. The schedule allows overlaps:
// Temporal would count a build waiting for a person as running and skip every night after
// it. Each run asks instead (activities/nightly.ts) and skips itself when its night already
// has a build or an earlier nightly really runs; `trigger` asks the same before starting.
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import { canonicalJson, sha256Hex } from '../plan/cache-key';
import type { BuildPlan } from '../plan/plan';
import { judgeNightly, nightlyPrefix, nightlyRuns, type NightlyVerdict } from '../activities/nightly';
import { identityAttributes, stateAttribute } from '../workflows/search-values';
import { BUILD_PRODUCT } from './builds';
import { CONTROL_QUEUE } from './worker';

/** Every schedule sborka manages starts with this; sync leaves other schedules alone. */
export const SCHEDULE_PREFIX = 'sborka-nightly-';

/** Bumped whenever scheduleOptions changes for the same plan (2: overlaps allowed, runs check themselves). */
const ACTION_VERSION = 2;

export interface DesiredSchedule {
  scheduleId: string;
  plan: BuildPlan;
  cron: string;
  timezone: string;
  /** Digest of everything the schedule is made from: a change means "update". */
  digest: string;
}

export function desiredSchedules(plans: BuildPlan[]): DesiredSchedule[] {
  const out = new Map<string, DesiredSchedule>();
  for (const plan of plans) {
    if (!plan.schedule) continue;
    const scheduleId = `${SCHEDULE_PREFIX}${plan.product}`;
    if (out.has(scheduleId)) throw new Error(`two recipes schedule product "${plan.product}"`);
    out.set(scheduleId, {
      scheduleId,
      plan,
      cron: plan.schedule.cron,
      timezone: plan.schedule.timezone,
      // The action's own shape is part of it: a schedule made by an older sborka is updated.
      digest: sha256Hex(canonicalJson({ plan, action: ACTION_VERSION })),
    });
  }
  return [...out.values()].sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

function scheduleOptions(d: DesiredSchedule): ScheduleOptions {
  return {
    scheduleId: d.scheduleId,
    spec: { cronExpressions: [d.cron], timezone: d.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: BUILD_PRODUCT,
      taskQueue: CONTROL_QUEUE,
      workflowId: `${d.plan.product}-nightly`,
      // An empty build id means "use the workflow id the schedule gave this run".
      args: [{ buildId: '', plan: d.plan }],
      // pending until the run has asked whether its night is its to build (activities/nightly.ts).
      typedSearchAttributes: [...identityAttributes(d.plan, d.plan.variants), stateAttribute('pending')],
    },
    policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: '6h', pauseOnFailure: false },
    // The note is the one field an update can change besides the spec: it carries the digest.
    state: { note: noteFor(d) },
  };
}

const NOTE = /^sborka ([0-9a-f]{64}) cron (.*)$/;
function noteFor(d: DesiredSchedule): string {
  return `sborka ${d.digest} cron ${d.cron} ${d.timezone}`;
}

export interface ScheduleDiff {
  create: string[];
  update: string[];
  delete: string[];
  unchanged: string[];
}

/** Makes the server's sborka schedules match the recipes; with dryRun only says how. */
export async function syncSchedules(client: Client, plans: BuildPlan[], dryRun: boolean): Promise<ScheduleDiff> {
  const desired = desiredSchedules(plans);
  const existing = new Map<string, string>();
  for await (const s of client.schedule.list()) {
    if (s.scheduleId.startsWith(SCHEDULE_PREFIX)) existing.set(s.scheduleId, NOTE.exec(s.state.note ?? '')?.[1] ?? '');
  }
  const diff: ScheduleDiff = { create: [], update: [], delete: [], unchanged: [] };
  for (const d of desired) {
    const current = existing.get(d.scheduleId);
    if (current === undefined) diff.create.push(d.scheduleId);
    else if (current !== d.digest) diff.update.push(d.scheduleId);
    else diff.unchanged.push(d.scheduleId);
  }
  diff.delete = [...existing.keys()].filter((id) => !desired.some((d) => d.scheduleId === id)).sort();
  if (dryRun) return diff;

  for (const d of desired) {
    if (diff.create.includes(d.scheduleId)) {
      await client.schedule.create(scheduleOptions(d));
    } else if (diff.update.includes(d.scheduleId)) {
      const { scheduleId: _id, ...options } = scheduleOptions(d);
      await client.schedule.getHandle(d.scheduleId).update((prev) => ({ ...prev, ...options, state: { ...prev.state, note: noteFor(d) } }));
    }
  }
  for (const id of diff.delete) {
    try {
      await client.schedule.getHandle(id).delete();
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError)) throw e;
    }
  }
  return diff;
}

export interface ScheduleListing {
  scheduleId: string;
  product: string;
  cron: string;
  timezone: string;
  paused: boolean;
  nextRun?: Date;
  lastRun?: string;
}

export async function listSchedules(client: Client): Promise<ScheduleListing[]> {
  const out: ScheduleListing[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(SCHEDULE_PREFIX)) continue;
    out.push({
      scheduleId: s.scheduleId,
      product: s.scheduleId.slice(SCHEDULE_PREFIX.length),
      cron: NOTE.exec(s.state.note ?? '')?.[2] ?? '',
      // The note ends with the timezone (noteFor).
      timezone: NOTE.exec(s.state.note ?? '')?.[2]?.split(' ').at(-1) ?? 'UTC',
      paused: s.state.paused,
      nextRun: s.info.nextActionTimes[0],
      lastRun: s.info.recentActions.at(-1)?.action.workflow.workflowId,
    });
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

/** Timezone of a schedule's nights: the plan's, as the schedule's action carries it. */
async function scheduleTimezone(client: Client, scheduleId: string): Promise<string> {
  const d = await client.schedule.getHandle(scheduleId).describe();
  const args = d.action.type === 'startWorkflow' ? (d.action.args as Array<{ plan?: BuildPlan }> | undefined) : undefined;
  return args?.[0]?.plan?.schedule?.timezone ?? 'UTC';
}

export interface TriggerOutcome {
  triggered: boolean;
  /** Why nothing was started. */
  reason?: string;
  other?: string;
}

/**
 * Starts the product's nightly now, unless tonight already has a build (open or finished)
 * or an earlier nightly really runs: the same verdict the run itself would reach, asked
 * before starting so that a double trigger starts nothing at all.
 */
export async function triggerNightly(client: Client, product: string): Promise<TriggerOutcome> {
  const scheduleId = `${SCHEDULE_PREFIX}${product}`;
  const timezone = await scheduleTimezone(client, scheduleId);
  const now = new Date().toISOString();
  const verdict: NightlyVerdict = judgeNightly(
    { product, workflowId: `${nightlyPrefix(product)}${now}`, startedAt: now, timezone },
    await nightlyRuns(client, product),
  );
  if (verdict.skip !== undefined) return { triggered: false, reason: verdict.skip, ...(verdict.other ? { other: verdict.other } : {}) };
  await client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
  return { triggered: true };
}
