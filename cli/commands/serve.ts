// `sborka serve`: the HTTP API and the web dashboard in one process. On the embedded
// one-machine setup it also runs the workers (as `sborka build` does), so builds started
// from the web run without anything else; with a cluster, workers run on the build hosts.
import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { createApiServer } from '../../service/api/server';
import { defaultQueues, startWorkers } from '../../service/worker';

const usage = 'sborka serve [--port 8080] [--host 127.0.0.1] [--no-worker] [--public] [--rate N] [--public-url URL]';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the HTTP API and the web dashboard (and, on the embedded setup, the workers)',
  usage,
  async run(args, io) {
    const { values } = parseCommandArgs(
      args,
      {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        'no-worker': { type: 'boolean', default: false },
        public: { type: 'boolean', default: false },
        rate: { type: 'string', default: '20' },
        'public-url': { type: 'string' },
      },
      usage,
    );
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port ${values.port}: not a port`, EXIT.usage);
    const rate = Number(values.rate);
    if (!(rate > 0)) throw new UserError(`--rate ${values.rate}: requests per second per token, > 0`, EXIT.usage);

    const ctx = new CliContext();
    const logger = ctx.logger('serve', 'stderr');
    const client = await ctx.client();
    const workers = !values['no-worker'] && !ctx.config.temporal.address
      ? await startWorkers({ config: ctx.config, logger, client, queues: defaultQueues() })
      : undefined;
    const server = await createApiServer({
      config: ctx.config,
      client,
      logger,
      anonymousCommunity: values.public,
      rateLimit: { perSecond: rate, burst: Math.max(10, rate * 5) },
      webhooks: values['public-url'] ? { publicUrl: values['public-url'].replace(/\/$/, '') } : {},
    });
    const address = await server.listen(port, values.host);
    io.stdout.write(`sborka serve: ${address} (dashboard at ${address}/, API description at ${address}/openapi.json)\n`);

    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    io.stdout.write('sborka serve: stopping\n');
    await server.close();
    if (workers) {
      workers.shutdown();
      await workers.done;
    }
    await ctx.close();
    return EXIT.ok;
  },
};
