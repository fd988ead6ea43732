// Runs Temporal workers in this process: one per task queue, all sharing one workflow
// bundle and one set of activities. A build host serves its arch's queue; the one-machine
// setup serves the control queue and every arch the debian toolchain can emulate.
import * as os from 'node:os';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities, type KindRegistry } from '../activities';
import { createPublishActivities } from '../activities/publish';
import { createQueueWatchActivities } from '../activities/queue-watch';
import type { Config } from './config';
import { connectWorker } from './temporal-connection';

/** BuildProduct runs here; BuildVariant runs on its variant's build-<arch> queue. */
export const CONTROL_QUEUE = 'sborka';

export function hostArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64', ia32: 'i586', ppc64: 'ppc64le', loong64: 'loongarch64' };
  return map[os.arch()] ?? os.arch();
}

export function defaultQueues(): string[] {
  return [CONTROL_QUEUE, ...['x86_64', 'aarch64', 'riscv64'].map((a) => `build-${a}`)];
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundling takes seconds: do it once per process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
  return bundle;
}
const quietBundlerLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (m: string) => process.stderr.write(`bundler: ${m}\n`),
  error: (m: string) => process.stderr.write(`bundler: ${m}\n`),
};

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
  /** The step kinds this host runs (a toolchain's adapter registered); the default registry when absent. */
  registry?: KindRegistry;
}): Promise<WorkerSet> {
  installRuntime(opts.logger);
  const connection = await connectWorker(opts.config, opts.logger);
  const activities = {
    ...createActivities({ config: opts.config, logger: opts.logger, registry: opts.registry }),
    ...createQueueWatchActivities(opts.client),
    ...createPublishActivities({ config: opts.config, logger: opts.logger }),
  };
  const workflowBundleCode = await workflowBundle();
  const workers = await Promise.all(
    opts.queues.map((taskQueue) =>
      Worker.create({
        connection,
        namespace: opts.config.temporal.namespace,
        taskQueue,
        workflowBundle: workflowBundleCode,
        activities,
        maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? Math.max(2, os.cpus().length * 2),
        // Running builds must be told when the worker goes away, so activities get cancelled.
        shutdownGraceTime: '10s',
      }),
    ),
  );
  opts.logger.info({ queues: opts.queues }, 'workers started');
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  return {
    done: done.finally(() => connection.close()),
    shutdown: () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown()),
  };
}
