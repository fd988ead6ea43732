// Operator actions on a waiting step, and cancelling a whole build.
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, type Command } from '../command';
import { CliContext } from '../context';
import { loadConfig } from '../../config/config';
import { approveReview } from '../../service/api/approve';
import { openApiDb } from '../../service/api/db';
import { cancelBuild, operatorAction, type OperatorAction } from '../../service/builds';

/** `sborka approve` remembers like the API's approve: one decision per package asked about (service/api/approve.ts). */
async function approveFromCli(client: Parameters<typeof approveReview>[0], buildId: string, opts: Parameters<typeof approveReview>[2], name: string) {
  const config = loadConfig();
  const db = openApiDb(config.stateDir);
  try {
    return await approveReview(client, buildId, opts, { db, stateDir: config.stateDir, config, actor: { name, role: 'admin' } });
  } finally {
    db.close();
  }
}

const ACTIONS: Record<OperatorAction, string> = {
  retry: 'run the waiting step again (after fixing its cause)',
  skip: 'skip the waiting step, where the recipe allows it (tests)',
  abort: 'fail the waiting variant with the step\'s error; logs and finished outputs are kept',
  approve: 'approve the license review a variant waits on; the build goes on (who and why are recorded)',
};

function operatorCommand(action: OperatorAction): Command {
  const usage = `sborka ${action} <build-id> [--variant V] [--step S] [--reason TEXT]`;
  return {
    name: action,
    summary: ACTIONS[action],
    usage,
    async run(args, io) {
      const { values, positionals } = parseCommandArgs(
        args,
        { variant: { type: 'string' }, step: { type: 'string' }, reason: { type: 'string' } },
        usage,
      );
      const [buildId] = requirePositional(positionals, 1, usage);
      const ctx = new CliContext();
      try {
        const by = process.env.USER ?? 'operator';
        const reason = values.reason ?? `${action} by ${by} from the command line`;
        if (action === 'approve') {
          const reply = await approveFromCli(await ctx.client(), buildId!, { ...values, reason, by }, `cli:${by}`);
          io.stdout.write(`${reply.variantId}: ${reply.action} ${reply.step}\n${reply.decisions ?? 0} license decision(s) recorded\n`);
          return EXIT.ok;
        }
        const reply = await operatorAction(await ctx.client(), buildId!, action, { ...values, reason, by });
        io.stdout.write(`${reply.variantId}: ${reply.action} ${reply.step}\n`);
        return EXIT.ok;
      } finally {
        await ctx.close();
      }
    },
  };
}

export const retryCommand = operatorCommand('retry');
export const skipCommand = operatorCommand('skip');
export const abortCommand = operatorCommand('abort');
export const approveCommand = operatorCommand('approve');

const cancelUsage = 'sborka cancel <build-id>';
export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a running build; running steps are stopped and their processes killed',
  usage: cancelUsage,
  async run(args, io) {
    const { positionals } = parseCommandArgs(args, {}, cancelUsage);
    const [buildId] = requirePositional(positionals, 1, cancelUsage);
    const ctx = new CliContext();
    try {
      await cancelBuild(await ctx.client(), buildId!);
      io.stdout.write(`cancel requested: ${buildId}\n`);
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
