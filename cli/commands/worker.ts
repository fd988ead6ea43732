import { parseCommandArgs } from '../args';
import { EXIT, type Command } from '../command';
import { CliContext } from '../context';
import { defaultQueues, startWorkers } from '../../service/worker';

const usage = 'sborka worker [--queue build-x86_64[,sborka,...]] [--max-activities N]';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run build workers for task queues until interrupted',
  usage,
  async run(args, io) {
    const { values } = parseCommandArgs(args, { queue: { type: 'string', multiple: true }, 'max-activities': { type: 'string' } }, usage);
    const ctx = new CliContext();
    const logger = ctx.logger('worker', 'stderr');
    const queues = values.queue?.flatMap((q) => q.split(',')).filter(Boolean) ?? defaultQueues();
    const client = await ctx.client();
    const workers = await startWorkers({
      config: ctx.config, logger, client, queues,
      maxConcurrentActivities: values['max-activities'] ? Number(values['max-activities']) : undefined,
    });
    io.stderr.write(`worker: polling ${queues.join(', ')} (Ctrl-C stops)\n`);
    const stop = () => workers.shutdown();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await workers.done;
    await ctx.close();
    return EXIT.ok;
  },
};
