// Falling back to emulation on a real dev server: a variant whose plan allows it waits for a
// native worker only `afterMs`, then runs every step on its emulated queue; with a native
// worker nothing falls back; without `emulation` a variant waits for a native worker as
// long as it takes. Every worker's activities record the queue they were taken from.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities, readLedger } from '../../activities';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { renderVariants } from '../../cli/progress-view';
import { parsePlan, type BuildPlan, type PlanInput } from '../../plan/plan';
import { loadConfig } from '../../config/config';
import { productStatusQuery, variantStatusQuery } from '../../workflows/api';
import { BuildProductResult } from '../../workflows/contract';
import { BuildProduct } from '../../workflows';
import { ProductStatus, VariantStatus } from '../../workflows/status';
import { eventually, startTemporal, startWorker, workflowBundle, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';
import { fetchHistories, saveHistories, WRITE_HISTORIES } from './histories';

const CONTROL = 'sborka';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-emu-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
let env: TestWorkflowEnvironment;
const workers: RunningWorker[] = [];
/** Every workflow the tests ran, for the replay check at the end. */
const ran: string[] = [];

/** Which queue each activity was taken from, by which variant workflow. */
const taken: { queue: string; workflowId: string; activity: string; step?: string }[] = [];

function recording(): object {
  const acts = createActivities({ config, logger: pino({ level: 'silent' }) });
  const record = (activity: string, step?: string) => {
    const info = Context.current().info;
    taken.push({ queue: info.taskQueue, workflowId: info.workflowExecution?.workflowId ?? '', activity, ...(step === undefined ? {} : { step }) });
  };
  return {
    runStep: (input: Parameters<typeof acts.runStep>[0]) => {
      record('runStep', input.step.id);
      return acts.runStep(input);
    },
    probeCache: (input: Parameters<typeof acts.probeCache>[0]) => {
      record('probeCache');
      return acts.probeCache(input);
    },
  };
}

async function serve(taskQueue: string): Promise<RunningWorker> {
  const w = await startWorker(env, { taskQueue, activities: { ...recording(), ...createQueueWatchActivities(env.client) } });
  workers.push(w);
  return w;
}

beforeAll(async () => {
  env = await startTemporal();
  await serve(CONTROL);
}, 120_000);

afterAll(async () => {
  await stopTestEnv(env, workers, [tmp]);
}, 60_000);

// ---- plans -------------------------------------------------------------------------

type StepInput = PlanInput['variants'][number]['steps'][number];
type VariantInput = PlanInput['variants'][number];

/** A cheap core step writing its own id and the build's into its outputs (so no other build's store entry fits). */
function step(id: string, buildId: string, extra: Partial<StepInput> = {}): StepInput {
  return { id, kind: 'exec', params: { argv: ['sh', '-c', 'echo "$1" > "$SBORKA_OUTPUT_DIR/out"', 'sh', `${buildId}/${id}`] }, ...extra } as StepInput;
}

function plan(variants: VariantInput[]): BuildPlan {
  return parsePlan({
    version: 1,
    product: 'emu',
    toolchain: { name: 'core', version: 'test-1' },
    policy: { maxParallelSteps: 4, operatorWaitMs: 600_000, noWorkerWarningMs: 1000 },
    variants,
  });
}

function variant(id: string, arch: VariantInput['arch'], steps: StepInput[], afterMs?: number): VariantInput {
  const taskQueue = `build-${arch}`;
  return { id, product: 'emu', arch, taskQueue, steps, ...(afterMs === undefined ? {} : { emulation: { taskQueue: `${taskQueue}-emulated`, afterMs } }) };
}

async function startBuild(buildId: string, p: BuildPlan) {
  ran.push(buildId, ...p.variants.map((v) => `${buildId}.${v.id}`));
  return env.client.workflow.start(BuildProduct, { taskQueue: CONTROL, workflowId: buildId, args: [{ buildId, plan: p }] });
}

const variantStatus = async (workflowId: string) => VariantStatus.parse(await env.client.workflow.getHandle(workflowId).query(variantStatusQuery));
const takenBy = (workflowId: string) => taken.filter((t) => t.workflowId === workflowId);

// ---- tests -------------------------------------------------------------------------

describe('a variant that may fall back to emulation', () => {
  it('runs every step on the emulated queue when no native worker takes one in time, and says so', async () => {
    await serve('build-riscv64-emulated');
    const buildId = 'e-fallback';
    const p = plan([
      // Cacheable steps: the cache probe is the first activity and finds no native worker.
      variant('emu.riscv64', 'riscv64', [step('first', buildId), step('second', buildId, { needs: ['first'] })], 3000),
      // Nothing to probe: two steps wait on the native queue at once, both end up emulated.
      variant('emu.riscv64.par', 'riscv64', [step('left', buildId, { cacheable: false }), step('right', buildId, { cacheable: false }), step('after', buildId, { needs: ['left', 'right'], cacheable: false })], 3000),
    ]);
    const handle = await startBuild(buildId, p);
    const result = BuildProductResult.parse(await handle.result());
    expect(result.variants.map((v) => [v.variantId, v.state])).toEqual([['emu.riscv64', 'succeeded'], ['emu.riscv64.par', 'succeeded']]);

    // Every activity of both variants was taken from the emulated queue, none natively.
    const probed = takenBy(`${buildId}.emu.riscv64`);
    expect(probed.map((t) => [t.activity, t.step, t.queue])).toEqual([
      ['probeCache', undefined, 'build-riscv64-emulated'],
      ['runStep', 'first', 'build-riscv64-emulated'],
      ['runStep', 'second', 'build-riscv64-emulated'],
    ]);
    const parallel = takenBy(`${buildId}.emu.riscv64.par`);
    expect(parallel.map((t) => t.step).sort()).toEqual(['after', 'left', 'right']);
    expect(parallel.every((t) => t.queue === 'build-riscv64-emulated')).toBe(true);
    // The variants' workflows ran on the control queue: no native worker had to start them.
    expect((await env.client.workflow.getHandle(`${buildId}.emu.riscv64`).describe()).taskQueue).toBe(CONTROL);

    // The switch cost no attempt and asked no operator.
    const status = await variantStatus(`${buildId}.emu.riscv64`);
    expect(status).toMatchObject({
      state: 'succeeded',
      taskQueue: 'build-riscv64-emulated',
      emulated: { reason: 'no native worker took the cache probe on build-riscv64 within 3 s' },
      waiting: [],
    });
    expect(status.steps.map((s) => [s.id, s.state, s.attempt, s.error])).toEqual([['first', 'succeeded', 1, undefined], ['second', 'succeeded', 1, undefined]]);
    expect(Date.parse(status.emulated!.since)).toBeGreaterThanOrEqual(Date.parse(status.startedAt));
    expect(status.warnings).toEqual([`runs under emulation on build-riscv64-emulated since ${status.emulated!.since}: no native worker took the cache probe on build-riscv64 within 3 s`]);
    const par = await variantStatus(`${buildId}.emu.riscv64.par`);
    expect(par.emulated?.reason).toMatch(/^no native worker took step (left|right) on build-riscv64 within 3 s$/);
    expect(par.steps.every((s) => s.attempt === 1 && s.state === 'succeeded')).toBe(true);
    const ledger = (await readLedger(config.storeDir)).filter((e) => e.buildId === buildId);
    expect(ledger.map((e) => e.outcome).sort()).toEqual(Array(5).fill('succeeded'));

    // The build's status carries the queue in use and the switch; `sborka status` prints both.
    const product = ProductStatus.parse(await handle.query(productStatusQuery));
    expect(product.variants.map((v) => [v.taskQueue, v.emulated?.reason])).toEqual([
      ['build-riscv64-emulated', 'no native worker took the cache probe on build-riscv64 within 3 s'],
      ['build-riscv64-emulated', par.emulated?.reason],
    ]);
    const lines = renderVariants([status], Date.now());
    expect(lines[0]).toBe('emu.riscv64 [riscv64, emulated on build-riscv64-emulated] succeeded 2/2 steps');
    expect(lines[1]).toBe(`  ! ${status.warnings[0]}`);
  });

  it('runs natively, with no fallback, when a native worker is there', async () => {
    await serve('build-aarch64');
    await serve('build-aarch64-emulated');
    const buildId = 'e-native';
    // A generous wait: a native worker that polls takes every step long before it ends.
    const handle = await startBuild(buildId, plan([variant('emu.aarch64', 'aarch64', [step('first', buildId), step('second', buildId, { needs: ['first'] })], 60_000)]));
    const result = BuildProductResult.parse(await handle.result());
    expect(result.state).toBe('succeeded');
    expect(takenBy(`${buildId}.emu.aarch64`).map((t) => [t.activity, t.queue])).toEqual([
      ['probeCache', 'build-aarch64'], ['runStep', 'build-aarch64'], ['runStep', 'build-aarch64'],
    ]);
    const status = await variantStatus(`${buildId}.emu.aarch64`);
    expect(status).toMatchObject({ state: 'succeeded', taskQueue: 'build-aarch64', warnings: [] });
    expect(status.emulated).toBeUndefined();
    expect(renderVariants([status], Date.now())[0]).toBe('emu.aarch64 [aarch64] succeeded 2/2 steps');
  });
});

describe('a variant without emulation', () => {
  it('waits for a native worker however long it takes, even with an emulating one there', async () => {
    await serve('build-ppc64le-emulated');
    const buildId = 'e-wait';
    const handle = await startBuild(buildId, plan([variant('emu.ppc64le', 'ppc64le', [step('only', buildId)])]));
    const warned = await eventually(async () => {
      const s = ProductStatus.parse(await handle.query(productStatusQuery));
      return s.warnings.length > 0 ? s : undefined;
    }, 'the no-worker warning');
    expect(warned.warnings).toEqual([expect.stringMatching(/^emu\.ppc64le: no worker has polled build-ppc64le for \d+ s$/)]);
    // Longer than the fallback of the other tests: nothing moves without a native worker.
    await new Promise((r) => setTimeout(r, 5000));
    const still = ProductStatus.parse(await handle.query(productStatusQuery));
    expect(still.variants[0]).toMatchObject({ state: 'pending', taskQueue: 'build-ppc64le' });
    expect(takenBy(`${buildId}.emu.ppc64le`)).toEqual([]);

    await serve('build-ppc64le');
    const result = BuildProductResult.parse(await handle.result());
    expect(result.state).toBe('succeeded');
    expect(takenBy(`${buildId}.emu.ppc64le`).map((t) => t.queue)).toEqual(['build-ppc64le', 'build-ppc64le']);
  });
});

describe('replay', () => {
  it('replays every build of this file against the current workflow code', async () => {
    const histories = await fetchHistories(env.client, ran);
    expect(histories).toHaveLength(ran.length);
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
    if (WRITE_HISTORIES) saveHistories(histories);
  });
});
