// BuildProduct and BuildVariant on a real dev server with the real activities (store,
// ledger, process runner) running real small steps in a temporary directory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities, readLedger } from '../../activities';
import { processIsRunning } from '../../activities/process-runner';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { parsePlan, type BuildPlan, type PlanInput } from '../../plan/plan';
import { loadConfig } from '../../config/config';
import { abortUpdate, productStatusQuery, retryUpdate, skipUpdate, variantStatusQuery } from '../../workflows/api';
import { BuildProductResult, BuildVariantResult } from '../../workflows/contract';
import { BuildProduct, BuildVariant } from '../../workflows';
import { SA_ARCH, SA_OWNER, SA_PRODUCT, SA_STATE } from '../../workflows/search-attributes';
import { ProductStatus, VariantStatus } from '../../workflows/status';
import { eventually, startTemporal, startWorker, workflowBundle, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';
import { fetchHistories, saveHistories, WRITE_HISTORIES } from './histories';

const { EventType } = temporal.api.enums.v1;
const QUEUE = 'build-x86_64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-wf-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
let env: TestWorkflowEnvironment;
let worker: RunningWorker;
/** Every workflow the tests ran, for the replay check at the end. */
const ran: string[] = [];

beforeAll(async () => {
  env = await startTemporal();
  worker = await startWorker(env, {
    taskQueue: QUEUE,
    activities: {
      ...createActivities({ config, logger: pino({ level: 'silent' }) }),
      ...createQueueWatchActivities(env.client),
    },
  });
}, 120_000);

afterAll(async () => {
  await stopTestEnv(env, [worker], [tmp]);
}, 60_000);

// ---- plans -------------------------------------------------------------------------

type StepInput = PlanInput['variants'][number]['steps'][number];
type VariantInput = PlanInput['variants'][number];

/** An exec step running a fixed shell script with positional arguments (never text built from input). */
function sh(id: string, script: string, args: string[], extra: Partial<StepInput> = {}): StepInput {
  return { id, kind: 'exec', params: { argv: ['sh', '-c', script, 'sh', ...args] }, ...extra } as StepInput;
}
const copyInto = 'cp "$1" "$SBORKA_OUTPUT_DIR/"';
const fastRetry = { maximumAttempts: 2, initialIntervalMs: 100, maximumIntervalMs: 200 };

function makePlan(variants: VariantInput[], policy: Partial<BuildPlan['policy']> = {}): BuildPlan {
  return parsePlan({
    version: 1,
    product: 'demo',
    owner: { kind: 'partner', name: 'acme' },
    toolchain: { name: 'core', version: 'test-1' },
    policy: { maxParallelSteps: 4, operatorWaitMs: 600_000, noWorkerWarningMs: 120_000, ...policy },
    variants,
  });
}

function variant(id: string, steps: StepInput[], extra: Partial<VariantInput> = {}): VariantInput {
  return { id, product: 'demo', arch: 'x86_64', taskQueue: QUEUE, steps, ...extra };
}

/** A source tree per variant: two files, then copy → checksum, copy → archive. */
function demoVariant(id: string, arch: VariantInput['arch']): VariantInput {
  const src = path.join(tmp, `src-${id}`);
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'kernel.txt'), `kernel for ${arch}\n`);
  fs.writeFileSync(path.join(src, 'rootfs.txt'), `rootfs for ${arch}\n`);
  return variant(
    id,
    [
      sh('kernel', copyInto, [path.join(src, 'kernel.txt')]),
      sh('rootfs', copyInto, [path.join(src, 'rootfs.txt')]),
      { id: 'sums', kind: 'checksum', needs: ['kernel', 'rootfs'], params: {} },
      { id: 'pack', kind: 'archive', needs: ['rootfs'], params: { sourceDir: 'input:rootfs', include: ['rootfs.txt'], name: 'rootfs.tar.gz' } },
    ],
    {
      arch,
      artifacts: [
        { name: 'sums', step: 'sums', path: 'SHA256SUMS', format: 'report' },
        { name: 'rootfs', step: 'pack', path: 'rootfs.tar.gz', format: 'tar' },
      ],
    },
  );
}

// ---- helpers -----------------------------------------------------------------------

async function startVariant(buildId: string, plan: BuildPlan, variantId = plan.variants[0]!.id): Promise<WorkflowHandle<typeof BuildVariant>> {
  const workflowId = `${buildId}.${variantId}`;
  ran.push(workflowId);
  return env.client.workflow.start(BuildVariant, { taskQueue: QUEUE, workflowId, args: [{ buildId, plan, variantId }] });
}

async function variantStatus(handle: WorkflowHandle): Promise<VariantStatus> {
  return VariantStatus.parse(await handle.query(variantStatusQuery));
}

/** Waits until the step is in the given state and returns the whole status then. */
function stepReaches(handle: WorkflowHandle, stepId: string, state: string): Promise<VariantStatus> {
  return eventually(async () => {
    const status = await variantStatus(handle);
    return status.steps.find((s) => s.id === stepId)?.state === state ? status : undefined;
  }, `step ${stepId} to be ${state}`);
}

async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

async function searchAttribute<T>(workflowId: string, key: { name: string }): Promise<T | undefined> {
  const d = await env.client.workflow.getHandle(workflowId).describe();
  return d.typedSearchAttributes.get(key as typeof SA_STATE) as T | undefined;
}

// ---- tests -------------------------------------------------------------------------

describe('BuildProduct', () => {
  const plan = () => makePlan([demoVariant('demo-x86_64', 'x86_64'), demoVariant('demo-aarch64', 'aarch64')]);
  let first: BuildProductResult;

  it('builds every variant on its queue and returns the artifacts as files', async () => {
    const p = plan();
    ran.push('b-demo', 'b-demo.demo-x86_64', 'b-demo.demo-aarch64');
    const handle = await env.client.workflow.start(BuildProduct, { taskQueue: QUEUE, workflowId: 'b-demo', args: [{ buildId: 'b-demo', plan: p }] });
    first = BuildProductResult.parse(await handle.result());

    expect(first.state).toBe('succeeded');
    expect(first.variants.map((v) => [v.variantId, v.workflowId, v.state])).toEqual([
      ['demo-x86_64', 'b-demo.demo-x86_64', 'succeeded'],
      ['demo-aarch64', 'b-demo.demo-aarch64', 'succeeded'],
    ]);
    for (const v of first.variants) {
      const arch = v.variantId.replace('demo-', '');
      const byName = new Map(v.result?.artifacts.map((a) => [a.name, a.file]));
      const sums = fs.readFileSync(byName.get('sums')!, 'utf8');
      expect(sums).toMatch(/^[0-9a-f]{64} {2}kernel\/kernel\.txt\n[0-9a-f]{64} {2}rootfs\/rootfs\.txt\n$/);
      expect(fs.statSync(byName.get('rootfs')!).size).toBeGreaterThan(0);
      const pack = v.result?.steps.find((s) => s.id === 'pack');
      expect(byName.get('rootfs')).toBe(`${pack?.outputDir}/rootfs.tar.gz`);
      expect(v.result?.steps.every((s) => s.state === 'succeeded' && !s.cached && s.key?.length === 64)).toBe(true);
      expect(fs.readFileSync(path.join(v.result!.steps.find((s) => s.id === 'kernel')!.outputDir!, 'kernel.txt'), 'utf8')).toBe(`kernel for ${arch}\n`);
    }

    const status = ProductStatus.parse(await handle.query(productStatusQuery));
    expect(status).toMatchObject({ state: 'succeeded', owner: 'partner:acme', warnings: [] });
    expect(status.variants.map((v) => v.state)).toEqual(['succeeded', 'succeeded']);

    expect(await searchAttribute('b-demo', SA_STATE)).toBe('succeeded');
    expect(await searchAttribute('b-demo', SA_OWNER)).toBe('partner:acme');
    expect(await searchAttribute('b-demo', SA_PRODUCT)).toBe('demo');
    expect(await searchAttribute('b-demo', SA_ARCH)).toEqual(['x86_64', 'aarch64']);
    expect(await searchAttribute('b-demo.demo-aarch64', SA_ARCH)).toEqual(['aarch64']);
    expect(await searchAttribute('b-demo.demo-aarch64', SA_STATE)).toBe('succeeded');
  });

  it('reruns a finished build from the store: every step cached, nothing spawned', async () => {
    expect(first).toBeDefined();
    ran.push('b-demo-rerun', 'b-demo-rerun.demo-x86_64', 'b-demo-rerun.demo-aarch64');
    const result = await env.client.workflow.execute(BuildProduct, {
      taskQueue: QUEUE,
      workflowId: 'b-demo-rerun',
      args: [{ buildId: 'b-demo-rerun', plan: plan() }],
    });
    expect(result.state).toBe('succeeded');
    for (const [i, v] of result.variants.entries()) {
      expect(v.result?.steps.map((s) => [s.id, s.state, s.cached])).toEqual([
        ['kernel', 'cached', true], ['rootfs', 'cached', true], ['sums', 'cached', true], ['pack', 'cached', true],
      ]);
      expect(v.result?.artifacts).toEqual(first.variants[i]?.result?.artifacts);
    }
    const ledger = (await readLedger(config.storeDir)).filter((e) => e.buildId === 'b-demo-rerun');
    expect(ledger).toHaveLength(8);
    expect(ledger.every((e) => e.outcome === 'cached' && e.pids.length === 0)).toBe(true);
  });

  it('says when no worker polls a variant\'s queue, and cancelling the build cancels the variants', async () => {
    const p = makePlan([variant('demo-e2k', [sh('only', 'true', [])], { arch: 'e2kv4', taskQueue: 'build-e2k' })], { noWorkerWarningMs: 1000 });
    ran.push('b-e2k');
    const handle = await env.client.workflow.start(BuildProduct, { taskQueue: QUEUE, workflowId: 'b-e2k', args: [{ buildId: 'b-e2k', plan: p }] });
    const status = await eventually(async () => {
      const s = ProductStatus.parse(await handle.query(productStatusQuery));
      return s.warnings.length > 0 ? s : undefined;
    }, 'the no-worker warning');
    expect(status.warnings).toEqual([expect.stringMatching(/^demo-e2k: no worker has polled build-e2k for \d+ (s|min)$/)]);
    expect(status.variants[0]).toMatchObject({ state: 'pending', taskQueue: 'build-e2k' });
    expect(await searchAttribute('b-e2k.demo-e2k', SA_STATE)).toBe('pending');

    await handle.cancel();
    const err = await failureOf(handle.result());
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect(await searchAttribute('b-e2k', SA_STATE)).toBe('cancelled');
    const final = ProductStatus.parse(await handle.query(productStatusQuery));
    expect(final).toMatchObject({ state: 'cancelled', warnings: [] });
    expect(final.variants[0]?.state).toBe('cancelled');
    // Nobody can run the child here: its cancellation stays requested until a worker comes.
    const child = env.client.workflow.getHandle('b-e2k.demo-e2k');
    const events = (await child.fetchHistory()).events ?? [];
    expect(events.map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
    await child.terminate('test over: no build-e2k worker');
  });
});

describe('describeQueue', () => {
  it('reports the pollers of a served queue and none for a queue nobody serves', async () => {
    const { describeQueue } = createQueueWatchActivities(env.client);
    const served = await eventually(async () => {
      const q = await describeQueue(QUEUE);
      return q.workflowPollers > 0 && q.activityPollers > 0 ? q : undefined;
    }, 'pollers on the served queue');
    expect(served.lastAccessMs).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(await describeQueue('build-nobody')).toEqual({ taskQueue: 'build-nobody', workflowPollers: 0, activityPollers: 0 });
  });
});

describe('BuildVariant', () => {
  it('runs independent steps at the same time', async () => {
    // Each step announces itself, then waits for the other's announcement: both can only
    // finish if they overlap (with one slot the build would fail on the wait's limit).
    const dir = path.join(tmp, 'rendezvous');
    fs.mkdirSync(dir);
    const meet = 'touch "$1/$2"; i=0; while [ ! -e "$1/$3" ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done; echo met > "$SBORKA_OUTPUT_DIR/met"';
    const p = makePlan(
      [variant('v', [sh('left', meet, [dir, 'left', 'right'], { retry: { maximumAttempts: 1 } }), sh('right', meet, [dir, 'right', 'left'], { retry: { maximumAttempts: 1 } }), sh('after', 'true', [], { needs: ['left', 'right'] })])],
      { maxParallelSteps: 2 },
    );
    const handle = await startVariant('b-parallel', p);
    const result = BuildVariantResult.parse(await handle.result());
    expect(result.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const status = await variantStatus(handle);
    // "after" starts only when both of its needs have ended.
    const [left, right, after] = status.steps;
    expect(after!.startedAt! >= left!.endedAt!).toBe(true);
    expect(after!.startedAt! >= right!.endedAt!).toBe(true);
    expect(await searchAttribute('b-parallel.v', SA_STATE)).toBe('succeeded');
  });

  it('waits for the operator after a step fails; skip is refused for a build step; retry after the fix succeeds', async () => {
    const input = path.join(tmp, 'retry-input.txt');
    const p = makePlan([variant('v', [sh('needs-input', copyInto, [input], { retry: fastRetry }), sh('next', 'true', [], { needs: ['needs-input'] })])]);
    const handle = await startVariant('b-retry', p);

    const waiting = await stepReaches(handle, 'needs-input', 'waiting');
    expect(waiting.state).toBe('waiting');
    expect(waiting.waiting).toEqual([expect.objectContaining({ step: 'needs-input', actions: ['retry', 'abort'] })]);
    const step = waiting.steps[0]!;
    expect(step).toMatchObject({ attempt: 1, activityId: 'needs-input#1', error: { type: 'StepFailed', nonRetryable: false } });
    expect(step.error?.message).toContain('retry-input.txt');
    expect(fs.existsSync(step.logPath!)).toBe(true);
    expect(waiting.steps[1]?.state).toBe('pending');
    expect(await searchAttribute('b-retry.v', SA_STATE)).toBe('waiting');

    const refused = await handle.executeUpdate(skipUpdate, { args: [{}] }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause?.message).toMatch(/step needs-input is not skippable/);
    const wrongStep = await handle.executeUpdate(retryUpdate, { args: [{ step: 'next' }] }).then(() => undefined, (e: unknown) => e);
    expect((wrongStep as WorkflowUpdateFailedError).cause?.message).toMatch(/step next is not waiting for an operator \(it is pending\)/);

    fs.writeFileSync(input, 'now it exists\n');
    expect(await handle.executeUpdate(retryUpdate, { args: [{ reason: 'input fixed' }] })).toEqual({ step: 'needs-input', action: 'retry' });
    const result = await handle.result();
    expect(result.steps.map((s) => [s.id, s.state])).toEqual([['needs-input', 'succeeded'], ['next', 'succeeded']]);
    const status = await variantStatus(handle);
    expect(status.steps[0]).toMatchObject({ state: 'succeeded', attempt: 2, activityId: 'needs-input#2' });
    expect(status.steps[0]?.error).toBeUndefined();
    expect(status.waiting).toEqual([]);
    // Both rounds of the step ran their attempts: 2 failed, then 1 succeeded.
    const ledger = (await readLedger(config.storeDir)).filter((e) => e.buildId === 'b-retry' && e.stepId === 'needs-input');
    expect(ledger.map((e) => e.outcome)).toEqual(['failed', 'failed', 'succeeded']);
  });

  it('abort ends the variant with the step\'s failure and keeps its log', async () => {
    const p = makePlan([variant('v', [sh('needs-input', copyInto, [path.join(tmp, 'never-there.txt')], { retry: fastRetry })])]);
    const handle = await startVariant('b-abort', p);
    const waiting = await stepReaches(handle, 'needs-input', 'waiting');
    const logPath = waiting.steps[0]!.logPath!;

    await handle.executeUpdate(abortUpdate, { args: [{ step: 'needs-input', reason: 'giving up' }] });
    const err = await failureOf(handle.result());
    expect(err.cause).toBeInstanceOf(ApplicationFailure);
    expect((err.cause as ApplicationFailure).type).toBe('VariantFailed');
    expect(err.cause?.message).toMatch(/step needs-input aborted by the operator after: .*never-there\.txt/s);
    expect(fs.readFileSync(logPath, 'utf8')).toContain('never-there.txt');

    const status = await variantStatus(handle);
    expect(status).toMatchObject({ state: 'failed', waiting: [] });
    expect(status.steps[0]).toMatchObject({ state: 'failed', logPath });
    expect(await searchAttribute('b-abort.v', SA_STATE)).toBe('failed');
  });

  it('a non-retryable failure fails the variant at once and cancels the steps still running', async () => {
    const pidFile = path.join(tmp, 'sibling.pid');
    const p = makePlan([
      variant('v', [
        sh('slow', 'echo $$ > "$1"; exec sleep 300', [pidFile], { timeouts: { heartbeatMs: 30_000, startToCloseMs: 600_000 } }),
        {
          id: 'bad',
          kind: 'exec',
          // Fails once "slow" runs, with an exit code the plan declares non-retryable.
          params: { argv: ['sh', '-c', 'while [ ! -s "$1" ]; do sleep 0.1; done; echo "bad input" >&2; exit 3', 'sh', pidFile], nonRetryableExitCodes: [3] },
        },
      ]),
    ]);
    const handle = await startVariant('b-nonretryable', p);
    const err = await failureOf(handle.result());
    expect(err.cause?.message).toMatch(/step bad failed: .*exited with code 3/s);
    const status = await variantStatus(handle);
    expect(status.steps.map((s) => [s.id, s.state])).toEqual([['slow', 'cancelled'], ['bad', 'failed']]);
    expect(status.steps[1]?.error).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect(status.waiting).toEqual([]);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(processIsRunning(pid)).toBe(false);
  });

  it('skip lets a skippable step go: its dependents run without it and the variant succeeds', async () => {
    const p = makePlan([
      variant(
        'v',
        [
          sh('build', 'echo image > "$SBORKA_OUTPUT_DIR/image"', []),
          sh('boot-test', 'exit 1', [], { needs: ['build'], skippable: true, retry: fastRetry }),
          // Sees the image but no boot-test input.
          sh('publish', 'cp "$SBORKA_INPUT_BUILD/image" "$SBORKA_OUTPUT_DIR/"; [ -z "${SBORKA_INPUT_BOOT_TEST:-}" ]', [], { needs: ['build', 'boot-test'] }),
        ],
        { artifacts: [{ name: 'image', step: 'build', path: 'image', format: 'img' }, { name: 'report', step: 'boot-test', path: 'report.txt', format: 'report' }] },
      ),
    ]);
    const handle = await startVariant('b-skip', p);
    const waiting = await stepReaches(handle, 'boot-test', 'waiting');
    expect(waiting.waiting[0]?.actions).toEqual(['retry', 'skip', 'abort']);
    expect(await handle.executeUpdate(skipUpdate, { args: [{ reason: 'known flaky' }] })).toEqual({ step: 'boot-test', action: 'skip' });
    const result = await handle.result();
    expect(result.steps.map((s) => s.state)).toEqual(['succeeded', 'skipped', 'succeeded']);
    expect(fs.readFileSync(path.join(result.steps[2]!.outputDir!, 'image'), 'utf8')).toBe('image\n');
    expect(result.artifacts.map((a) => [a.name, a.file !== undefined])).toEqual([['image', true], ['report', false]]);
  });

  it('fails the variant when no operator answers within operatorWaitMs', async () => {
    const p = makePlan([variant('v', [sh('broken', 'exit 1', [], { retry: fastRetry })])], { operatorWaitMs: 1000 });
    const handle = await startVariant('b-no-operator', p);
    const err = await failureOf(handle.result());
    expect(err.cause?.message).toMatch(/step broken: no operator decision within 1 s after: "sh" exited with code 1/);
    const status = await variantStatus(handle);
    expect(status).toMatchObject({ state: 'failed', waiting: [] });
    expect(status.steps[0]?.state).toBe('failed');
  });

  it('a rerun never takes a non-cacheable step from the store; its cacheable dependent is still a hit', async () => {
    const p = makePlan([variant('v', [sh('stamp', 'echo same > "$SBORKA_OUTPUT_DIR/out"', [], { cacheable: false }), sh('use', 'cat "$SBORKA_INPUT_STAMP/out" > "$SBORKA_OUTPUT_DIR/copy"', [], { needs: ['stamp'] })])]);
    const first = await (await startVariant('b-nocache', p)).result();
    expect(first.steps.map((s) => [s.id, s.state])).toEqual([['stamp', 'succeeded'], ['use', 'succeeded']]);
    const again = await (await startVariant('b-nocache-rerun', p)).result();
    // The stamp runs again and, producing the same bytes, gives its dependent the same input key.
    expect(again.steps.map((s) => [s.id, s.state, s.key === first.steps.find((f) => f.id === s.id)?.key])).toEqual([['stamp', 'succeeded', true], ['use', 'cached', true]]);
    const ledger = (await readLedger(config.storeDir)).filter((e) => e.buildId === 'b-nocache-rerun');
    expect(ledger.map((e) => [e.stepId, e.outcome, e.pids.length > 0])).toEqual([['stamp', 'succeeded', true], ['use', 'cached', false]]);
  });

  it('cancelling the build cancels the running step and kills its process', async () => {
    const pidFile = path.join(tmp, 'sleep.pid');
    const p = makePlan([variant('v', [sh('sleep', 'echo $$ > "$1"; exec sleep 300', [pidFile], { timeouts: { heartbeatMs: 30_000, startToCloseMs: 600_000 } }), sh('after', 'true', [], { needs: ['sleep'] })])]);
    const handle = await startVariant('b-cancel', p);
    await stepReaches(handle, 'sleep', 'running');
    const pid = await eventually(async () => (fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined), 'the step\'s pid');
    expect(processIsRunning(pid)).toBe(true);

    await handle.cancel();
    const err = await failureOf(handle.result());
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect(processIsRunning(pid)).toBe(false);
    const status = await variantStatus(handle);
    expect(status.state).toBe('cancelled');
    expect(status.steps.map((s) => [s.id, s.state])).toEqual([['sleep', 'cancelled'], ['after', 'cancelled']]);
    expect(await searchAttribute('b-cancel.v', SA_STATE)).toBe('cancelled');
  });
});

describe('replay', () => {
  it('replays every build of this file against the current workflow code', async () => {
    const histories = await fetchHistories(env.client, ran.filter((id) => id !== 'b-e2k.demo-e2k'));
    expect(histories.length).toBeGreaterThanOrEqual(10);
    const replays = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
    const failures: string[] = [];
    for await (const r of replays) if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
    if (WRITE_HISTORIES) saveHistories(histories);
  });
});
