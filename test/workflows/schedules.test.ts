// Nightly builds: a Schedule made by syncSchedules starts BuildProduct with an empty build
// id, and the run takes its workflow id (`<product>-nightly-<time>`) as the build id. While
// that run really runs, another action starts a run that skips itself and builds nothing
// (the schedule allows overlaps so that a build waiting for a person holds nothing back:
// nightly-overlap.test.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { ScheduleHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { createNightlyActivities } from '../../activities/nightly';
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
  const activities = { ...createActivities({ config, logger: pino({ level: 'silent' }) }), ...createQueueWatchActivities(env.client), ...createNightlyActivities(env.client) };
  for (const taskQueue of [CONTROL_QUEUE, QUEUE]) workers.push(await startWorker(env, { taskQueue, activities }));
}, 120_000);

afterAll(async () => {
  await schedule?.delete().catch(() => undefined);
  await stopTestEnv(env, workers, [tmp]);
}, 60_000);

it('a triggered schedule runs BuildProduct under its own id; a second action while it runs builds nothing', async () => {
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

  const { policies } = await schedule.describe();
  expect(policies.overlap).toBe('ALLOW_ALL');
  await schedule.trigger();
  const workflowId = await eventually(async () => (await schedule!.describe()).info.recentActions[0]?.action.workflow.workflowId, 'the scheduled run');
  expect(workflowId).toMatch(/^nightly-demo-nightly-\d{4}-\d\d-\d\dT/);
  const running = await eventually(async () => {
    const view = await buildView(env.client, workflowId);
    return view.variants[0]?.steps[0]?.state === 'running' ? view : undefined;
  }, 'the step to run');
  expect(running.product).toMatchObject({ buildId: workflowId, state: 'running' });
  expect(running.variants[0]).toMatchObject({ buildId: workflowId, state: 'running' });

  // Again while it runs, then a catch-up of a missed night: both runs skip themselves.
  await schedule.trigger();
  const night = new Date(Date.UTC(2024, 0, 1, 2, 0, 0));
  await schedule.backfill({ start: new Date(night.getTime() - 60_000), end: new Date(night.getTime() + 60_000) });
  const skipped = await eventually(async () => {
    const ids: string[] = [];
    for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'BuildProduct' AND SborkaState = 'skipped'` })) ids.push(wf.workflowId);
    return ids.length >= 2 ? ids : undefined;
  }, 'both to be skipped');
  const reasons: string[] = [];
  for (const id of skipped) {
    const r = BuildProductResult.parse(await env.client.workflow.getHandle(id).result());
    expect(r.state).toBe('skipped');
    reasons.push(r.status?.error ?? '');
  }
  // Tonight's second run: its night has a build; the missed night's: an earlier nightly really runs.
  expect(reasons.sort()).toEqual([
    `skipped: the earlier nightly ${workflowId} is still running`,
    `skipped: the night of ${workflowId.slice('nightly-demo-nightly-'.length, 'nightly-demo-nightly-'.length + 10)} already has build ${workflowId} (running)`,
  ].sort());

  fs.writeFileSync(gate, '');
  const result = BuildProductResult.parse(await env.client.workflow.getHandle(workflowId).result());
  expect(result).toMatchObject({ buildId: workflowId, state: 'succeeded' });
  expect(result.variants[0]).toMatchObject({ workflowId: `${workflowId}.v`, state: 'succeeded' });
  const variants: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'BuildVariant'` })) variants.push(wf.workflowId);
  expect(variants).toEqual([`${workflowId}.v`]);
});
