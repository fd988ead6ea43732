// `sborka diff <build> [<build>]`: what changed between two builds of one product, per arch
// (by default this build against the last succeeded one before it).
import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { debCacheDir } from '../../activities/debian/mmdebstrap';
import { changesMarkdown } from '../../publish/changes';
import { diffBuilds } from '../../service/changes';

const usage = 'sborka diff <build> [<older-build>] [--arch A] [--json]';

export const diffCommand: Command = {
  name: 'diff',
  summary: 'what changed between two builds: packages (with changelogs), licenses, sizes, tests, recipe',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { arch: { type: 'string' }, json: { type: 'boolean', default: false } }, usage);
    const [to, from, ...extra] = positionals;
    if (!to || extra.length > 0) throw new UserError(`name one or two builds\nusage: ${usage}`, EXIT.usage);
    const ctx = new CliContext();
    try {
      // With two builds named, the first is the newer one: `diff tonight yesterday`.
      const changes = await diffBuilds(await ctx.client(), to, from, { debDir: debCacheDir(ctx.config), storeDir: ctx.config.storeDir, config: ctx.config, ...(values.arch ? { arch: values.arch } : {}) });
      io.stdout.write(values.json ? `${JSON.stringify(changes, null, 2)}\n` : changes.map(changesMarkdown).join('\n'));
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
