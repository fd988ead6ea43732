// `sborka status` of finished builds with no worker left: buildView reads closed runs from
// their results (a failed variant's partial result travels in its failure), because a
// query on a closed workflow needs a worker to replay it and there is none here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { parsePlan, type BuildPlan, type PlanInput } from '../../plan/plan';
import { buildView } from '../../service/builds';
import { loadConfig } from '../../config/config';
import { productStatusQuery } from '../../workflows/api';
import { BuildProduct } from '../../workflows';
import { startTemporal, startWorker, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';

const QUEUE = 'build-x86_64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-wf-finished-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
let env: TestWorkflowEnvironment;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  env = await startTemporal();
  worker = await startWorker(env, {
    taskQueue: QUEUE,
    activities: { ...createActivities({ config, logger: pino({ level: 'silent' }) }), ...createQueueWatchActivities(env.client) },
  });
}, 120_000);

afterAll(async () => {
  await stopTestEnv(env, [worker], [tmp]);
}, 60_000);

type StepInput = PlanInput['variants'][number]['steps'][number];
const sh = (id: string, script: string, extra: Partial<StepInput> = {}): StepInput =>
  ({ id, kind: 'exec', params: { argv: ['sh', '-c', script] }, ...extra }) as StepInput;

function plan(variants: PlanInput['variants']): BuildPlan {
  return parsePlan({ version: 1, product: 'finished', toolchain: { name: 'core', version: 'finished-1' }, policy: { maxParallelSteps: 2 }, variants });
}

it('shows a finished build (one variant succeeded, one failed) after the last worker stopped', async () => {
  const p = plan([
    { id: 'good', product: 'finished', arch: 'x86_64', taskQueue: QUEUE, steps: [sh('one', 'echo one > "$SBORKA_OUTPUT_DIR/one"'), sh('two', 'true', { needs: ['one'] })] },
    {
      id: 'bad',
      product: 'finished',
      arch: 'x86_64',
      taskQueue: QUEUE,
      steps: [
        sh('ok', 'true'),
        { id: 'broken', kind: 'exec', needs: ['ok'], params: { argv: ['sh', '-c', 'echo nope >&2; exit 3'], nonRetryableExitCodes: [3] } } as StepInput,
        sh('never', 'true', { needs: ['broken'] }),
      ],
    },
  ]);
  const handle = await env.client.workflow.start(BuildProduct, { taskQueue: QUEUE, workflowId: 'b-finished', args: [{ buildId: 'b-finished', plan: p }] });
  expect((await handle.result()).state).toBe('failed');
  const whileServed = await buildView(env.client, 'b-finished');

  await worker!.stop();
  worker = undefined;
  // Without a worker a query cannot be answered: the view below cannot come from one.
  await expect(env.client.withDeadline(Date.now() + 3000, () => handle.query(productStatusQuery))).rejects.toThrow();

  const view = await buildView(env.client, 'b-finished');
  expect(view).toEqual(whileServed);
  expect(view.product).toMatchObject({ buildId: 'b-finished', product: 'finished', state: 'failed', warnings: [] });
  expect(view.product.endedAt).toBeDefined();
  expect(view.product.variants.map((v) => [v.variantId, v.state, v.steps])).toEqual([
    ['good', 'succeeded', { succeeded: 2 }],
    ['bad', 'failed', { succeeded: 1, failed: 1, pending: 1 }],
  ]);
  const [good, bad] = view.variants;
  expect(good).toMatchObject({ variantId: 'good', state: 'succeeded' });
  expect(good!.steps.map((s) => [s.id, s.state, s.attempt])).toEqual([['one', 'succeeded', 1], ['two', 'succeeded', 1]]);
  expect(fs.readFileSync(path.join(good!.steps[0]!.outputDir!, 'one'), 'utf8')).toBe('one\n');
  expect(bad).toMatchObject({ variantId: 'bad', state: 'failed', error: expect.stringMatching(/step broken failed: .*exited with code 3/s) });
  expect(bad!.steps.map((s) => [s.id, s.state])).toEqual([['ok', 'succeeded'], ['broken', 'failed'], ['never', 'pending']]);
  expect(bad!.steps[1]).toMatchObject({ error: { nonRetryable: true } });
  expect(fs.readFileSync(bad!.steps[1]!.logPath!, 'utf8')).toContain('nope');
});
