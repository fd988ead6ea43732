// Engine overhead through the embedded Temporal server, printed as JSON:
//  - 200 no-op steps across 4 variants (chains of 50): time per step through the engine
//    against the same runStep called directly, and the median overhead per step;
//  - a 50-step plan built cold, then rebuilt warm (every step from the store);
//  - where a chained step's time goes, from the variants' histories (engine-phases.ts).
// Run: npx tsc -p . && node build/bench/engine.js
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { createActivities } from '../activities';
import { StepInput, type StepResult } from '../plan/step-contract';
import { parsePlan, type BuildPlan } from '../plan/plan';
import { buildResult, buildView, startBuild, variantWorkflowId } from '../service/builds';
import { loadConfig } from '../config/config';
import { connectClient } from '../service/temporal-connection';
import { embeddedPaths, stopEmbeddedServer } from '../service/temporal-server';
import { defaultQueues, startWorkers } from '../service/worker';

import { stepPhases } from './engine-phases';

const VARIANTS = 4;
const STEPS_PER_VARIANT = 50;
const quiet = () => undefined;

function chainPlan(product: string, variants: number, steps: number, cacheable: boolean, version: string): BuildPlan {
  return parsePlan({
    version: 1,
    product,
    toolchain: { name: 'core', version },
    policy: { maxParallelSteps: 4 },
    variants: Array.from({ length: variants }, (_, v) => ({
      id: `v${v}`,
      product,
      arch: 'x86_64',
      taskQueue: 'build-x86_64',
      steps: Array.from({ length: steps }, (_, i) => ({
        id: `s${i}`,
        kind: 'noop',
        params: {},
        cacheable,
        needs: i === 0 ? [] : [`s${i - 1}`],
      })),
    })),
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number) => Math.round(x * 100) / 100;

/** CPU time (ms) the embedded server has used so far: what a step costs it, whatever the load beside it. */
function serverCpuMs(pidFile: string): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${fs.readFileSync(pidFile, 'utf8').trim()}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-engine-'));
  const config = loadConfig({ ...process.env, SBORKA_STATE_DIR: stateDir, SBORKA_TEMPORAL_PORT: process.env.SBORKA_BENCH_PORT ?? '17299', TEMPORAL_ADDRESS: '' });
  const logger = pino({ level: 'warn' });
  try {
    // The same steps, directly: runStep with a real activity context, no Temporal.
    const { runStep } = createActivities({ config, logger });
    const plan = chainPlan('bench-direct', VARIANTS, STEPS_PER_VARIANT, false, 'bench');
    const direct: number[] = [];
    for (const variant of plan.variants) {
      let previous: string | undefined;
      for (const step of variant.steps) {
        const input = StepInput.parse({
          buildId: 'direct', variantId: variant.id, toolchain: plan.toolchain, step,
          inputs: previous ? { [step.needs[0]!]: previous } : {},
        });
        const t0 = performance.now();
        const env = new MockActivityEnvironment({}, { logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet } });
        previous = ((await env.run(runStep, input)) as StepResult).key;
        direct.push(performance.now() - t0);
      }
    }

    const client = await connectClient(config, logger);
    const workers = await startWorkers({ config, logger, client, queues: defaultQueues() });
    try {
      // Warm the workflow cache and the bundle so the figures are the steady state.
      await buildResult(client, (await startBuild(client, chainPlan('bench-warmup', 1, 5, false, 'warmup'))).workflowId);

      const pidFile = embeddedPaths(config).pidFile;
      const server0 = serverCpuMs(pidFile);
      const worker0 = process.cpuUsage();
      const load = os.loadavg()[0]!;
      const t0 = performance.now();
      const noopBuild = (await startBuild(client, chainPlan('bench-noop', VARIANTS, STEPS_PER_VARIANT, false, 'bench'))).workflowId;
      await buildResult(client, noopBuild);
      const wallMs = performance.now() - t0;
      const workerCpu = process.cpuUsage(worker0);
      const server1 = serverCpuMs(pidFile);
      const view = await buildView(client, noopBuild);
      const engineStep = view.variants.flatMap((v) => v.steps.map((s) => Date.parse(s.endedAt!) - Date.parse(s.startedAt!)));
      // Variants run concurrently; each is a chain, so one variant's wall time / its steps is the per-step latency.
      const perStepWall = wallMs / STEPS_PER_VARIANT;
      const phases = await stepPhases(client, view.variants.map((v) => variantWorkflowId(noopBuild, v.variantId)));

      const version = `bench-${Date.now()}`;
      const cold0 = performance.now();
      await buildResult(client, (await startBuild(client, chainPlan('bench-rerun', 1, 50, true, version))).workflowId);
      const coldMs = performance.now() - cold0;
      const warm0 = performance.now();
      const warmId = (await startBuild(client, chainPlan('bench-rerun', 1, 50, true, version))).workflowId;
      const warm = await buildResult(client, warmId);
      const warmMs = performance.now() - warm0;
      const cachedSteps = warm.variants[0]?.result?.steps.filter((s) => s.cached).length ?? 0;

      process.stdout.write(
        `${JSON.stringify(
          {
            bench: 'engine',
            machine: { cpus: os.cpus().length, node: process.version, loadAverage1m: round(load) },
            noopSteps: VARIANTS * STEPS_PER_VARIANT,
            variants: VARIANTS,
            directMedianMsPerStep: round(median(direct)),
            engineMedianMsPerStep: round(median(engineStep)),
            medianOverheadMsPerStep: round(median(engineStep) - median(direct)),
            wallMsPerChainedStep: round(perStepWall),
            wallOverheadMsPerStep: round(perStepWall - median(direct)),
            totalWallMs: Math.round(wallMs),
            // CPU per no-op step (runStep's own included): the figure the machine's load moves least.
            cpuMsPerStep: {
              worker: round((workerCpu.user + workerCpu.system) / 1000 / (VARIANTS * STEPS_PER_VARIANT)),
              server: server0 === undefined || server1 === undefined ? null : round((server1 - server0) / (VARIANTS * STEPS_PER_VARIANT)),
            },
            // From the variants' histories: where a chained step's time goes.
            phasesMedianMs: phases,
            targetOverheadMsPerStep: 25,
            rerun50: { coldMs: Math.round(coldMs), warmMs: Math.round(warmMs), cachedSteps, targetWarmMs: 2000 },
          },
          null,
          2,
        )}\n`,
      );
    } finally {
      workers.shutdown();
      await workers.done;
      await client.connection.close();
    }
  } finally {
    await stopEmbeddedServer(config);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench/engine: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
