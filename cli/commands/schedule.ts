import { ScheduleOverlapPolicy } from '@temporalio/client';
import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { loadPlans } from '../load-plan';
import { listSchedules, SCHEDULE_PREFIX, syncSchedules } from '../../service/schedules';

const usage = 'sborka schedule sync <recipes...> [--dry-run] | list | trigger <product> | pause <product> | unpause <product>';

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'nightly builds: sync Temporal schedules with the recipes, list, trigger, pause',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { 'dry-run': { type: 'boolean', default: false } }, usage);
    const [action, ...rest] = positionals;
    const ctx = new CliContext();
    try {
      switch (action) {
        case 'sync': {
          if (rest.length === 0) throw new UserError(`name the recipes to sync\nusage: ${usage}`, EXIT.usage);
          const plans = rest.flatMap((f) => loadPlans(f, io));
          const diff = await syncSchedules(await ctx.client(), plans, values['dry-run']);
          const say = (sign: string, ids: string[]) => ids.forEach((id) => io.stdout.write(`${sign} ${id}\n`));
          say('+', diff.create);
          say('~', diff.update);
          say('-', diff.delete);
          say('=', diff.unchanged);
          io.stdout.write(`${values['dry-run'] ? 'would create' : 'created'} ${diff.create.length}, updated ${diff.update.length}, deleted ${diff.delete.length}, unchanged ${diff.unchanged.length}\n`);
          return EXIT.ok;
        }
        case 'list': {
          for (const s of await listSchedules(await ctx.client())) {
            io.stdout.write(`${s.product.padEnd(32)} ${s.cron.padEnd(28)} ${s.paused ? 'paused ' : 'active '} next ${s.nextRun?.toISOString() ?? '-'}  last ${s.lastRun ?? '-'}\n`);
          }
          return EXIT.ok;
        }
        case 'trigger':
        case 'pause':
        case 'unpause': {
          if (!rest[0]) throw new UserError(`name the product\nusage: ${usage}`, EXIT.usage);
          const handle = (await ctx.client()).schedule.getHandle(`${SCHEDULE_PREFIX}${rest[0]}`);
          // The schedule's own overlap policy (skip): a manual trigger never doubles a running nightly.
          if (action === 'trigger') await handle.trigger(ScheduleOverlapPolicy.SKIP);
          else if (action === 'pause') await handle.pause(`paused by ${process.env.USER ?? 'operator'}`);
          else await handle.unpause();
          io.stdout.write(`${action}: ${rest[0]}\n`);
          return EXIT.ok;
        }
        default:
          throw new UserError(`unknown schedule action "${action ?? ''}"\nusage: ${usage}`, EXIT.usage);
      }
    } finally {
      await ctx.close();
    }
  },
};
