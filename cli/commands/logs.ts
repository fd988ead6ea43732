import * as fs from 'node:fs';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { buildView } from '../../service/builds';

const usage = 'sborka logs <build-id> [--variant V] [--step S] [--follow]';

/** Copies new bytes of a growing file to `out` until `stop()` says the writer is done. */
async function tail(file: string, out: NodeJS.WritableStream, stop: () => Promise<boolean>): Promise<void> {
  let offset = 0;
  for (;;) {
    const finished = await stop();
    if (fs.existsSync(file)) {
      const size = fs.statSync(file).size;
      if (size > offset) {
        const fd = fs.openSync(file, 'r');
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        fs.closeSync(fd);
        out.write(buf);
        offset = size;
      }
    }
    if (finished) return;
    await new Promise((r) => setTimeout(r, 300));
  }
}

export const logsCommand: Command = {
  name: 'logs',
  summary: 'print (or follow) the logs of a build\'s steps',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { variant: { type: 'string' }, step: { type: 'string' }, follow: { type: 'boolean', default: false } },
      usage,
    );
    const [buildId] = requirePositional(positionals, 1, usage);
    const ctx = new CliContext();
    try {
      const client = await ctx.client();
      const view = await buildView(client, buildId!);
      const steps = view.variants
        .filter((v) => !values.variant || v.variantId === values.variant)
        .flatMap((v) => v.steps.filter((s) => !values.step || s.id === values.step).map((s) => ({ v, s })));
      if (steps.length === 0) throw new UserError(`no step matches in build ${buildId}`);
      if (values.follow && steps.length !== 1) throw new UserError('--follow follows one step: name it with --variant and --step', EXIT.usage);
      for (const { v, s } of steps) {
        if (!s.logPath) continue;
        if (steps.length > 1) io.stdout.write(`==> ${v.variantId}/${s.id} (${s.state}) ${s.logPath}\n`);
        const running = async () => {
          if (!values.follow) return true;
          const now = (await buildView(client, buildId!)).variants.find((x) => x.variantId === v.variantId)?.steps.find((x) => x.id === s.id);
          return !now || !['running', 'pending'].includes(now.state);
        };
        await tail(s.logPath, io.stdout, running);
      }
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
