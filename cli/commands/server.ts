import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { embeddedAddress, ensureEmbeddedServer, runServerForeground, serverAnswers, stopEmbeddedServer } from '../../service/temporal-server';

const usage = 'sborka server [start|stop|status]   (no argument: run in the foreground)';

export const serverCommand: Command = {
  name: 'server',
  summary: 'run, start, stop or check the embedded Temporal dev server',
  usage,
  async run(args, io) {
    const { positionals } = parseCommandArgs(args, {}, usage);
    const ctx = new CliContext();
    if (ctx.config.temporal.address) {
      throw new UserError(`TEMPORAL_ADDRESS is set (${ctx.config.temporal.address}): sborka uses that cluster and runs no server of its own`, EXIT.usage);
    }
    const address = embeddedAddress(ctx.config);
    switch (positionals[0]) {
      case undefined:
        return runServerForeground(ctx.config, ctx.logger('server', 'stderr'));
      case 'start': {
        const { started } = await ensureEmbeddedServer(ctx.config, ctx.logger());
        io.stdout.write(`${started ? 'started' : 'already running'}: Temporal at ${address}\n`);
        return EXIT.ok;
      }
      case 'stop':
        io.stdout.write((await stopEmbeddedServer(ctx.config)) ? 'stopped\n' : 'not running\n');
        return EXIT.ok;
      case 'status': {
        const up = await serverAnswers(address);
        io.stdout.write(up ? `running at ${address}\n` : `not running (${address})\n`);
        return up ? EXIT.ok : EXIT.failed;
      }
      default:
        throw new UserError(`unknown server action "${positionals[0]}"\nusage: ${usage}`, EXIT.usage);
    }
  },
};
