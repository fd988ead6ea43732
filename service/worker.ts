// Runs Temporal workers in this process: one per task queue, all sharing one workflow
// bundle and one set of activities. A build host serves its arch's queue; the one-machine
// setup serves the control queue and every arch the debian toolchain can emulate.
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import { Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities, type KindRegistry } from '../activities';
import { createNightlyActivities } from '../activities/nightly';
import { createPublishActivities } from '../activities/publish';
import { createQueueWatchActivities } from '../activities/queue-watch';
import { attemptInterceptor } from '../activities/attempt-interceptor';
import { watchDeadWorkers } from '../activities/takeover';
import type { BuildPlan } from '../plan/plan';
import type { Config } from '../config/config';
import { connectWorker } from './temporal-connection';
import { cachedWorkflowBundle } from './workflow-bundle';

/** BuildProduct runs here; BuildVariant runs on its variant's build-<arch> queue. */
export const CONTROL_QUEUE = 'sborka';

export function hostArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64', ia32: 'i586', ppc64: 'ppc64le', loong64: 'loongarch64' };
  return map[os.arch()] ?? os.arch();
}

export function defaultQueues(): string[] {
  return [CONTROL_QUEUE, ...['x86_64', 'aarch64', 'riscv64'].map((a) => `build-${a}`)];
}

/**
 * The default queues a build of these plans uses: the control queue and its variants'. A
 * `sborka build` serves only those, since each worker costs its process a compile of the
 * workflow bundle at start.
 */
export function queuesFor(plans: readonly BuildPlan[]): string[] {
  const used = new Set(plans.flatMap((p) => p.variants.map((v) => v.taskQueue)));
  return defaultQueues().filter((q) => q === CONTROL_QUEUE || used.has(q));
}

let bundle: Promise<WorkflowBundle> | undefined;
/** Bundling takes seconds: once per process, and from the installation's cache while the workflow code is unchanged. */
export function workflowBundle(config: Config, logger: Logger): Promise<WorkflowBundle> {
  // node_modules/.cache: where JavaScript tools keep what they derive from a project's code.
  bundle ??= cachedWorkflowBundle(require.resolve('../workflows'), path.join(config.projectRoot, 'node_modules', '.cache', 'sborka-workflow-bundle'), logger);
  return bundle;
}

let runtimeInstalled = false;
/** Routes the Temporal core's own logs into our pino logger, once per process. */
function installRuntime(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const forward = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') => (message: string, meta?: Record<string, unknown>) =>
    logger[level]({ ...meta, source: 'temporal' }, message);
  Runtime.install({
    logger: {
      log: (level, message, meta) => forward(level.toLowerCase() as 'info')(message, meta),
      trace: forward('trace'), debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error'),
    },
  });
}

export interface WorkerSet {
  /** Resolves when every worker has shut down. */
  done: Promise<void>;
  shutdown(): void;
}

export async function startWorkers(opts: {
  config: Config;
  logger: Logger;
  client: Client;
  queues: string[];
  maxConcurrentActivities?: number;
  /** The step kinds this host runs (activities/kinds/all.ts builds it); without the alt host's kinds when absent. */
  registry?: KindRegistry;
  /** False: leave dead workers' attempts to their heartbeat timeout (activities/takeover.ts). */
  takeover?: boolean;
}): Promise<WorkerSet> {
  installRuntime(opts.logger);
  const takeover = opts.takeover === false ? undefined
    : watchDeadWorkers({ stateDir: opts.config.stateDir, logger: opts.logger, fail: (token, failure) => opts.client.activity.fail(token, failure) });
  const connection = await connectWorker(opts.config, opts.logger);
  const activities = {
    ...createActivities({ config: opts.config, logger: opts.logger, registry: opts.registry }),
    ...createQueueWatchActivities(opts.client),
    ...createNightlyActivities(opts.client),
    ...createPublishActivities({ config: opts.config, logger: opts.logger }),
  };
  const workflowBundleCode = await workflowBundle(opts.config, opts.logger);
  const workers = await Promise.all(
    opts.queues.map((taskQueue) =>
      Worker.create({
        connection,
        namespace: opts.config.temporal.namespace,
        taskQueue,
        workflowBundle: workflowBundleCode,
        activities,
        interceptors: { activity: [attemptInterceptor({ stateDir: opts.config.stateDir, logger: opts.logger })] },
        // Heartbeats reach the server every few seconds, well inside the plans' short heartbeat timeouts.
        maxHeartbeatThrottleInterval: '5s',
        maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? Math.max(2, os.cpus().length * 2),
        // Each waiting poll holds an activity slot; one poll leaves the other slots free for
        // eager dispatch (temporal-server.ts): a step's activity comes back with the workflow
        // task that scheduled it instead of through matching.
        activityTaskPollerBehavior: { type: 'simple-maximum', maximum: 1 },
        // Running builds must be told when the worker goes away, so activities get cancelled.
        shutdownGraceTime: '10s',
      }),
    ),
  );
  opts.logger.info({ queues: opts.queues }, 'workers started');
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  return {
    done: done.finally(() => {
      takeover?.stop();
      return connection.close();
    }),
    shutdown: () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown()),
  };
}
