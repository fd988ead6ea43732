import * as fs from 'node:fs';
import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { loadPlans } from '../load-plan';
import { apiDbPath, openApiDb, type Db } from '../../service/api/db';
import { recentNights, waitingNotices, type NightRecord } from '../../service/schedule-nights';
import { listSchedules, SCHEDULE_PREFIX, syncSchedules, triggerNightly } from '../../service/schedules';

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
          const plans = rest.flatMap((f) => loadPlans(f, io, values['dry-run'] ? {} : { recordTo: ctx.config.storeDir }));
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
          const client = await ctx.client();
          // Who was notified is in the API's database, when this host runs the API.
          const db: Db | undefined = fs.existsSync(apiDbPath(ctx.config.stateDir)) ? openApiDb(ctx.config.stateDir) : undefined;
          try {
            for (const s of await listSchedules(client)) {
              io.stdout.write(`${s.product.padEnd(32)} ${s.cron.padEnd(28)} ${s.paused ? 'paused ' : 'active '} next ${s.nextRun?.toISOString() ?? '-'}  last ${s.lastRun ?? '-'}\n`);
              const nights = await recentNights(client, s.product, s.timezone, db ? (id) => waitingNotices(db, id) : undefined);
              for (const n of nights) io.stdout.write(nightLine(n));
            }
          } finally {
            db?.close();
          }
          return EXIT.ok;
        }
        case 'trigger': {
          if (!rest[0]) throw new UserError(`name the product\nusage: ${usage}`, EXIT.usage);
          // Asks first: a night that already has a build (running, waiting or finished) is not built twice.
          const outcome = await triggerNightly(await ctx.client(), rest[0]);
          io.stdout.write(outcome.triggered ? `trigger: ${rest[0]}\n` : `trigger: ${rest[0]}: nothing started: ${outcome.reason ?? ''}\n`);
          return EXIT.ok;
        }
        case 'pause':
        case 'unpause': {
          if (!rest[0]) throw new UserError(`name the product\nusage: ${usage}`, EXIT.usage);
          const handle = (await ctx.client()).schedule.getHandle(`${SCHEDULE_PREFIX}${rest[0]}`);
          if (action === 'pause') await handle.pause(`paused by ${process.env.USER ?? 'operator'}`);
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

/** `  2026-12-01 <build> waiting: <what> (notified <owner> at <host>: delivered)`. */
function nightLine(n: NightRecord): string {
  const waits = n.waits.map((w) => `${w.open ? 'waits for' : 'waited for'} ${w.reason} (${w.variantId}/${w.step}${w.approvedBy ? `, approved by ${w.approvedBy}` : ''})`);
  const notified = n.notified.map((x) => `notified ${x.owner} at ${x.host}: ${x.status}`);
  const parts = [n.note, ...waits, ...notified].filter((p): p is string => p !== undefined);
  return `  ${n.night.padEnd(10)} ${n.buildId} ${n.state}${parts.length ? `: ${parts.join('; ')}` : ''}\n`;
}
