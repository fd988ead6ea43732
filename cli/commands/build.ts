import type { Client } from '@temporalio/client';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type CliIo, type Command } from '../command';
import { CliContext } from '../context';
import { followBuild } from '../follow';
import { loadPlans } from '../load-plan';
import { loadConfig } from '../../config/config';
import { buildResult, resumeBuild, startBuild } from '../../service/builds';
import { defaultQueues, queuesFor, startWorkers } from '../../service/worker';
import type { BuildPlan } from '../../plan/plan';
import type { BuildProductResult } from '../../workflows/contract';

const buildUsage = 'sborka build <recipe.sborka|plan.json> [--product P] [--arch A] [--id BUILD_ID] [--follow] [--no-worker]';
const resumeUsage = 'sborka resume <build-id> [--recipe <recipe.sborka|plan.json>] [--product P] [--follow] [--no-worker]';

/** Flags of every command that starts builds. */
const RUN_OPTIONS = {
  follow: { type: 'boolean', default: false },
  'no-worker': { type: 'boolean', default: false },
} as const;

/**
 * With the embedded server and no --no-worker, this process also runs the workers, and
 * so must stay until the build ends; with a cluster, workers run on the build hosts.
 */
async function runAndFollow(
  ctx: CliContext,
  io: CliIo,
  start: (client: Client) => Promise<string[]>,
  opts: { follow: boolean; worker: boolean; plans?: readonly BuildPlan[] },
): Promise<number> {
  const client = await ctx.client();
  const localWorker = opts.worker && !ctx.config.temporal.address;
  const logger = ctx.logger();
  const workers = localWorker
    ? await startWorkers({ config: ctx.config, logger, client, queues: opts.plans ? queuesFor(opts.plans) : defaultQueues() })
    : undefined;
  try {
    const buildIds = await start(client);
    if (!opts.follow && !localWorker) {
      for (const id of buildIds) io.stdout.write(`started ${id} (sborka status ${id})\n`);
      return EXIT.ok;
    }
    let failed = false;
    for (const buildId of buildIds) {
      io.stdout.write(`build ${buildId}\n`);
      const result = buildResult(client, buildId);
      await followBuild(client, buildId, io, result);
      const outcome = await result.catch((e: Error) => e);
      if (outcome instanceof Error) {
        io.stdout.write(`build ${buildId} ended: ${outcome.message}\n`);
        failed = true;
      } else {
        printResult(outcome, io, ctx.config.logDir);
        failed ||= outcome.state !== 'succeeded';
      }
    }
    return failed ? EXIT.failed : EXIT.ok;
  } finally {
    if (workers) {
      workers.shutdown();
      await workers.done;
    }
    await ctx.close();
  }
}

function printResult(result: BuildProductResult, io: CliIo, logDir: string): void {
  io.stdout.write(`\nbuild ${result.buildId}: ${result.state}\n`);
  for (const v of result.variants) {
    io.stdout.write(`  ${v.variantId}: ${v.state}${v.error ? ` (${v.error.split('\n')[0]})` : ''}\n`);
    const r = v.result;
    if (!r) continue;
    const cached = r.steps.filter((s) => s.cached).length;
    io.stdout.write(`    steps: ${r.steps.length} (${cached} from the store)\n`);
    for (const a of r.artifacts) io.stdout.write(`    ${a.format.padEnd(8)} ${a.name}: ${a.file ?? '(step skipped)'}\n`);
  }
  io.stdout.write(`  logs: ${logDir}/${result.buildId.replace(/[^A-Za-z0-9._-]/g, '_')}/\n`);
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'build a recipe or a plan, with a live view of every variant and step',
  usage: buildUsage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        product: { type: 'string' },
        arch: { type: 'string' },
        id: { type: 'string' },
        ...RUN_OPTIONS,
      },
      buildUsage,
    );
    const [file] = requirePositional(positionals, 1, buildUsage);
    const plans = loadPlans(file!, io, { product: values.product, arches: values.arch ? [values.arch] : undefined, recordTo: loadConfig().storeDir });
    if (values.id && plans.length > 1) throw new UserError('--id names one build, but the recipe gives several plans: add --product', EXIT.usage);
    const ctx = new CliContext();
    return runAndFollow(
      ctx,
      io,
      async (client) => Promise.all(plans.map(async (plan) => (await startBuild(client, plan, values.id)).workflowId)),
      { follow: values.follow, worker: !values['no-worker'], plans },
    );
  },
};

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'continue a failed or cancelled build: only missing or changed steps run',
  usage: resumeUsage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        recipe: { type: 'string' },
        product: { type: 'string' },
        ...RUN_OPTIONS,
      },
      resumeUsage,
    );
    const [buildId] = requirePositional(positionals, 1, resumeUsage);
    const plans = values.recipe ? loadPlans(values.recipe, io, { product: values.product, recordTo: loadConfig().storeDir }) : undefined;
    if (plans && plans.length !== 1) throw new UserError('the recipe gives several plans: name one with --product', EXIT.usage);
    const ctx = new CliContext();
    return runAndFollow(ctx, io, async (client) => [(await resumeBuild(client, buildId!, plans?.[0])).workflowId], {
      follow: values.follow,
      worker: !values['no-worker'],
      plans,
    });
  },
};
