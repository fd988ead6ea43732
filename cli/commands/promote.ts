import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { loadConfig } from '../../config/config';
import { loadPublishConfig } from '../../activities/publish/config';
import { promoteBuild } from '../../activities/publish/promote';

const usage = 'sborka promote <build-id> --channel release [--root DIR]...';

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'copy a published build into a channel (release), re-signed and kept by retention',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { channel: { type: 'string' }, root: { type: 'string', multiple: true } },
      usage,
    );
    const [buildId] = requirePositional(positionals, 1, usage);
    if (!values.channel) throw new UserError(`say which channel: --channel release\nusage: ${usage}`, EXIT.usage);
    const config = loadConfig();
    const publishConfig = await loadPublishConfig(config.stateDir);
    // Without --root, every configured files root is searched for the build.
    const roots = values.root?.length ? values.root : publishConfig.files.map((f) => f.root);
    if (roots.length === 0) throw new UserError('no files root is configured (publish.json "files"); name one with --root', EXIT.usage);
    let results;
    try {
      results = await promoteBuild({ buildId: buildId!, channel: values.channel, roots, signing: publishConfig.signing });
    } catch (err) {
      throw new UserError(`cannot promote ${buildId}: ${(err as Error).message}`);
    }
    for (const r of results) {
      io.stdout.write(`${r.status === 'published' ? 'promoted' : 'already in'} ${values.channel}: ${r.variant} ${r.root}/${r.to}\n`);
    }
    return EXIT.ok;
  },
};
