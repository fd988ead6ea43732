import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { defaultRegistry, type KindRegistry } from '../../activities';
import { loadAltHost, type AltHost } from '../../activities/alt';
import { altDefaultQueues, altQueueProblems } from '../../activities/alt/queues';
import { altHostProblems } from '../../activities/alt/host-check';
import { defaultQueues, startWorkers } from '../../service/worker';

const usage = 'sborka worker [--toolchain alt] [--queue build-x86_64[,sborka,...]] [--max-activities N]';

/**
 * With `--toolchain alt` the worker also runs the alt toolchain's steps (hasher,
 * mkimage-profiles, vm-run) on this host, described by SBORKA_ALT_* (ARCHES, EMULATE,
 * NUMBERS, PROFILES, HASHER_DIR, KVM, MIRROR). It serves build-<arch> only for arches the
 * host builds natively, build-<arch>-emulated for those it declares for emulation, and
 * build-e2k only on a declared e2k host; without --queue, all of those it may serve.
 */
export function altWorkerSetup(queues: string[] | undefined, env: NodeJS.ProcessEnv): { host: AltHost; queues: string[]; registry: KindRegistry } {
  let host: AltHost;
  try {
    host = loadAltHost(env);
  } catch (e) {
    const issues = (e as { issues?: Array<{ path: PropertyKey[]; message: string }> }).issues;
    const detail = issues ? issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (e as Error).message;
    throw new UserError(`worker --toolchain alt: the host settings (SBORKA_ALT_*) are invalid: ${detail}`, EXIT.usage);
  }
  const chosen = queues ?? altDefaultQueues(host);
  const problems = [...altQueueProblems(host, chosen), ...altHostProblems(host)];
  if (problems.length) {
    throw new UserError(`worker --toolchain alt: refusing to start; this host cannot serve:\n  ${problems.join('\n  ')}`, EXIT.usage);
  }
  return { host, queues: chosen, registry: defaultRegistry({ alt: { host } }) };
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run build workers for task queues until interrupted',
  usage,
  async run(args, io) {
    const { values } = parseCommandArgs(args, { queue: { type: 'string', multiple: true }, toolchain: { type: 'string' }, 'max-activities': { type: 'string' } }, usage);
    const given = values.queue?.flatMap((q) => q.split(',')).filter(Boolean);
    let queues = given ?? defaultQueues();
    let registry: KindRegistry | undefined;
    if (values.toolchain !== undefined) {
      if (values.toolchain !== 'alt' && values.toolchain !== 'debian') throw new UserError(`--toolchain: expected alt or debian, got "${values.toolchain}"\nusage: ${usage}`, EXIT.usage);
      if (values.toolchain === 'alt') ({ queues, registry } = altWorkerSetup(given, process.env));
    }
    const ctx = new CliContext();
    const logger = ctx.logger('worker', 'stderr');
    const client = await ctx.client();
    const workers = await startWorkers({
      config: ctx.config, logger, client, queues, registry,
      maxConcurrentActivities: values['max-activities'] ? Number(values['max-activities']) : undefined,
    });
    io.stderr.write(`worker: polling ${queues.join(', ')}${registry ? ' (alt toolchain)' : ''} (Ctrl-C stops)\n`);
    const stop = () => workers.shutdown();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await workers.done;
    await ctx.close();
    return EXIT.ok;
  },
};
