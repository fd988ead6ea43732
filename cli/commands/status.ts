import { parseCommandArgs } from '../args';
import { EXIT, type Command } from '../command';
import { CliContext } from '../context';
import { renderVariants } from '../progress-view';
import { buildView, listBuilds } from '../../service/builds';

const usage = 'sborka status [<build-id>] [--json] [--product P] [--state S] [--limit N]';

export const statusCommand: Command = {
  name: 'status',
  summary: 'list recent builds, or show every variant and step of one build',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { json: { type: 'boolean', default: false }, product: { type: 'string' }, state: { type: 'string' }, limit: { type: 'string' } },
      usage,
    );
    const ctx = new CliContext();
    try {
      const client = await ctx.client();
      if (positionals[0]) {
        const view = await buildView(client, positionals[0]);
        if (values.json) {
          io.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
        } else {
          io.stdout.write(`build ${view.product.buildId} (${view.product.product}, ${view.product.owner}): ${view.product.state}\n`);
          for (const w of view.product.warnings) io.stdout.write(`! ${w}\n`);
          for (const line of renderVariants(view.variants, Date.now())) io.stdout.write(`${line}\n`);
        }
        return EXIT.ok;
      }
      // Filters go through visibility; values are validated so they cannot break the query.
      const safe = (v: string, what: string) => {
        if (!/^[A-Za-z0-9._:+-]+$/.test(v)) throw new Error(`--${what} "${v}" has characters a ${what} never has`);
        return v;
      };
      const query = [
        values.product && `SborkaProduct = '${safe(values.product, 'product')}'`,
        values.state && `SborkaState = '${safe(values.state, 'state')}'`,
      ].filter(Boolean).join(' AND ');
      const builds = await listBuilds(client, query || undefined, Number(values.limit ?? 20));
      if (values.json) {
        io.stdout.write(`${JSON.stringify(builds, null, 2)}\n`);
      } else if (builds.length === 0) {
        io.stdout.write('no builds\n');
      } else {
        for (const b of builds) io.stdout.write(`${b.buildId.padEnd(48)} ${b.state.padEnd(10)} ${b.startTime.toISOString()}\n`);
      }
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
