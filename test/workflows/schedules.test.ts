// Nightly builds: a Schedule made by syncSchedules starts BuildProduct with an empty build
// id, and the run takes its workflow id (`<product>-nightly-<time>`) as the build id. While
// that run lasts, another action under the schedule's overlap policy (SKIP) starts nothing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { ScheduleHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { parsePlan, type PlanInput } from '../../plan/plan';
import { buildView } from '../../service/builds';
import { loadConfig } from '../../config/config';
import { syncSchedules } from '../../service/schedules';
import { CONTROL_QUEUE } from '../../service/worker';
import { BuildProductResult } from '../../workflows/contract';
import { eventually, startTemporal, startWorker, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';

const QUEUE = 'build-x86_64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-wf-schedules-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
let env: TestWorkflowEnvironment;
const workers: RunningWorker[] = [];
let schedule: ScheduleHandle | undefined;

beforeAll(async () => {
  env = await startTemporal();
  const activities = { ...createActivities({ config, logger: pino({ level: 'silent' }) }), ...createQueueWatchActivities(env.client) };
  for (const taskQueue of [CONTROL_QUEUE, QUEUE]) workers.push(await startWorker(env, { taskQueue, activities }));
}, 120_000);

afterAll(async () => {
  await schedule?.delete().catch(() => undefined);
  await stopTestEnv(env, workers, [tmp]);
}, 60_000);

it('a triggered schedule runs BuildProduct under its own id; a second action while it runs is skipped', async () => {
  const gate = path.join(tmp, 'gate');
  const step = { id: 'wait', kind: 'exec', params: { argv: ['sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.1; done', 'sh', gate] } } as PlanInput['variants'][number]['steps'][number];
  const plan = parsePlan({
    version: 1,
    product: 'nightly-demo',
    toolchain: { name: 'core', version: 'nightly-1' },
    schedule: { cron: '0 2 * * *', timezone: 'UTC' },
    variants: [{ id: 'v', product: 'nightly-demo', arch: 'x86_64', taskQueue: QUEUE, steps: [step] }],
  });
  expect(await syncSchedules(env.client, [plan], false)).toMatchObject({ create: ['sborka-nightly-nightly-demo'] });
  schedule = env.client.schedule.getHandle('sborka-nightly-nightly-demo');

  // The TS client's trigger() overrides the overlap policy with ALLOW_ALL (and a run so
  // started is not watched for overlaps): trigger with the schedule's own policy, as the
  // server applies it to a nightly action.
  const { policies } = await schedule.describe();
  expect(policies.overlap).toBe('SKIP');
  await schedule.trigger(policies.overlap);
  const workflowId = await eventually(async () => (await schedule!.describe()).info.runningActions[0]?.workflow.workflowId, 'the scheduled run');
  expect(workflowId).toMatch(/^nightly-demo-nightly-\d{4}-\d\d-\d\dT/);
  const running = await eventually(async () => {
    const view = await buildView(env.client, workflowId);
    return view.variants[0]?.steps[0]?.state === 'running' ? view : undefined;
  }, 'the step to run');
  expect(running.product).toMatchObject({ buildId: workflowId, state: 'running' });
  expect(running.variants[0]).toMatchObject({ buildId: workflowId, state: 'running' });

  // Again while it runs, then a catch-up of a missed night (the server applies the
  // schedule's policy to a backfill left without one): both are skipped.
  await schedule.trigger(policies.overlap);
  await eventually(async () => ((await schedule!.describe()).info.numActionsSkippedOverlap >= 1 ? true : undefined), 'the trigger to be skipped');
  const night = new Date(Date.UTC(2024, 0, 1, 2, 0, 0));
  await schedule.backfill({ start: new Date(night.getTime() - 60_000), end: new Date(night.getTime() + 60_000) });
  await eventually(async () => ((await schedule!.describe()).info.numActionsSkippedOverlap >= 2 ? true : undefined), 'the catch-up to be skipped');

  fs.writeFileSync(gate, '');
  const result = BuildProductResult.parse(await env.client.workflow.getHandle(workflowId).result());
  expect(result).toMatchObject({ buildId: workflowId, state: 'succeeded' });
  expect(result.variants[0]).toMatchObject({ workflowId: `${workflowId}.v`, state: 'succeeded' });
  const runs: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'BuildProduct'` })) runs.push(wf.workflowId);
  expect(runs).toEqual([workflowId]);
  expect((await schedule.describe()).info.recentActions.map((a) => a.action.workflow.workflowId)).toEqual([workflowId]);
});
