// Where a chained no-op step's time goes, read from a variant's history (server timestamps):
// from the workflow task that scheduled the activity to the one that saw its result.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const T = temporal.api.enums.v1.EventType;

export interface StepPhases {
  /** Median ms per step of each phase, and the events and bytes a step costs the history. */
  scheduledToStartedMs: number;
  startedToCompletedMs: number;
  completedToTaskStartedMs: number;
  taskStartedToCompletedMs: number;
  eventsPerStep: number;
  workflowTasksPerStep: number;
  activityInputBytes: number;
  activityResultBytes: number;
}

const ms = (t: temporal.api.history.v1.IHistoryEvent): number => {
  const ts = t.eventTime;
  return ts ? Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6 : NaN;
};

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const bytes = (p: temporal.api.common.v1.IPayloads | null | undefined): number =>
  (p?.payloads ?? []).reduce((n, x) => n + (x.data?.length ?? 0), 0);

/** Phases of every activity of the type in these workflows' histories. */
export async function stepPhases(client: Client, workflowIds: readonly string[], activityType = 'runStep'): Promise<StepPhases> {
  const phases = { s2s: [] as number[], s2c: [] as number[], c2t: [] as number[], t2c: [] as number[], input: [] as number[], result: [] as number[] };
  let events = 0;
  let tasks = 0;
  let steps = 0;
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const all = history.events ?? [];
    events += all.length;
    const byId = new Map(all.map((e) => [Number(e.eventId), e]));
    for (const [i, e] of all.entries()) {
      if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) tasks += 1;
      if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED) {
        const done = all.slice(i + 1).find((x) => x.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
        if (done) phases.t2c.push(ms(done) - ms(e));
      }
      if (e.eventType !== T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) continue;
      const attrs = e.activityTaskCompletedEventAttributes!;
      const scheduled = byId.get(Number(attrs.scheduledEventId));
      const started = byId.get(Number(attrs.startedEventId));
      if (scheduled?.activityTaskScheduledEventAttributes?.activityType?.name !== activityType || !started) continue;
      steps += 1;
      const taskDone = byId.get(Number(scheduled.activityTaskScheduledEventAttributes.workflowTaskCompletedEventId)) ?? scheduled;
      phases.s2s.push(ms(started) - ms(taskDone));
      phases.s2c.push(ms(e) - ms(started));
      const nextTask = all.slice(i + 1).find((x) => x.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED);
      if (nextTask) phases.c2t.push(ms(nextTask) - ms(e));
      phases.input.push(bytes(scheduled.activityTaskScheduledEventAttributes?.input));
      phases.result.push(bytes(attrs.result));
    }
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    scheduledToStartedMs: r(median(phases.s2s)),
    startedToCompletedMs: r(median(phases.s2c)),
    completedToTaskStartedMs: r(median(phases.c2t)),
    taskStartedToCompletedMs: r(median(phases.t2c)),
    eventsPerStep: steps ? r(events / steps) : NaN,
    workflowTasksPerStep: steps ? r(tasks / steps) : NaN,
    activityInputBytes: median(phases.input),
    activityResultBytes: median(phases.result),
  };
}
