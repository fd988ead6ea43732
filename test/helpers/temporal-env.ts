// A real Temporal dev server (the project's pinned CLI) and workers for tests: one server
// per test file, started in beforeAll and torn down in afterAll.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import pino from 'pino';
import { attemptInterceptor } from '../../activities/attempt-interceptor';
import { serverTuningArgs } from '../../service/temporal-server';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const TEMPORAL_CLI = path.join(PROJECT_ROOT, '.tools', 'temporal', 'bin', 'temporal');
export const WORKFLOWS_PATH = path.join(PROJECT_ROOT, 'workflows', 'index.ts');

let runtimeInstalled = false;
/** Only errors from the SDK: failing steps are expected here and would flood the output. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

/**
 * Starts a dev server on a free loopback port, given what the embedded server is given
 * (its dynamic config and sborka's search attributes); its database stays in memory.
 */
export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: TEMPORAL_CLI },
      ip: '127.0.0.1',
      extraArgs: [...serverTuningArgs(), '--headless'],
    },
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundling takes seconds: once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  return bundle;
}

export interface RunningWorker {
  worker: Worker;
  /** Shuts the worker down and waits until it has stopped. */
  stop(): Promise<void>;
}

/**
 * Starts a worker on the test server, with the attempt interceptor the service's workers
 * have (its records in a directory of their own): it sends the activities' heartbeats.
 * Heartbeats reach the server within a second, so a cancelled step hears of it quickly.
 */
export async function startWorker(
  env: TestWorkflowEnvironment,
  options: { taskQueue: string; activities: object } & Partial<WorkerOptions>,
): Promise<RunningWorker> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-test-worker-'));
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    workflowBundle: await workflowBundle(),
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
    interceptors: { activity: [attemptInterceptor({ stateDir, logger: pino({ level: 'silent' }) })] },
    ...options,
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A test file's end: its workers stopped first (they poll the server), then the server, then its directories. */
export async function stopTestEnv(env: TestWorkflowEnvironment | undefined, workers: ReadonlyArray<RunningWorker | undefined>, dirs: readonly string[]): Promise<void> {
  for (const w of workers) await w?.stop();
  await env?.teardown();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}

/** Polls `probe` until it returns a value (not undefined); throws after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
