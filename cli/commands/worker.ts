import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { defaultRegistry, type KindRegistry } from '../../activities';
import { loadAltHost, type AltHost } from '../../activities/alt';
import { altDefaultQueues, altQueueProblems } from '../../activities/alt/queues';
import { altHostProblems } from '../../activities/alt/host-check';
import { defaultQueues, startWorkers } from '../../service/worker';

const usage = 'sborka worker [--toolchain alt [--partners]] [--queue build-x86_64[,sborka,...]] [--max-activities N] [--no-takeover]';

/**
 * With `--toolchain alt` the worker also runs the alt toolchain's steps (hasher,
 * mkimage-profiles, vm-run) on this host, described by SBORKA_ALT_* (ARCHES, EMULATE,
 * NUMBERS, PROFILES, HASHER_DIR, KVM, MIRROR). It serves build-<arch> only for arches the
 * host builds natively, build-<arch>-emulated for those it declares for emulation, and
 * build-e2k only on a declared e2k host; without --queue, all of those it may serve.
 * Partner variants run their code only in vm-run's VM: what this host lacks for that is a
 * warning at start, or with --partners (this worker is meant to take partner builds) a refusal.
 * At start (and every few seconds after) the worker takes over the running steps of a worker
 * that died on this host: it ends their processes and fails them so they are retried at
 * once; --no-takeover leaves them to their heartbeat timeout.
 */
export function altWorkerSetup(queues: string[] | undefined, env: NodeJS.ProcessEnv, o: { partners?: boolean } = {}): { host: AltHost; queues: string[]; registry: KindRegistry; warnings: string[] } {
  let host: AltHost;
  try {
    host = loadAltHost(env);
  } catch (e) {
    const issues = (e as { issues?: Array<{ path: PropertyKey[]; message: string }> }).issues;
    const detail = issues ? issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (e as Error).message;
    throw new UserError(`worker --toolchain alt: the host settings (SBORKA_ALT_*) are invalid: ${detail}`, EXIT.usage);
  }
  const chosen = queues ?? altDefaultQueues(host);
  const { refuse, warn } = altWorkerChecks(host, chosen, o);
  if (refuse.length) {
    throw new UserError(`worker --toolchain alt${o.partners ? ' --partners' : ''}: refusing to start; this host cannot serve:\n  ${refuse.join('\n  ')}`, EXIT.usage);
  }
  const warnings = warn.length
    ? [`worker --toolchain alt: partner variants cannot be isolated in a VM on this host (their steps will fail or run slowly here; --partners makes this a refusal):\n  ${warn.join('\n  ')}`]
    : [];
  return { host, queues: chosen, registry: defaultRegistry({ alt: { host } }), warnings };
}

/** What stops this host serving the queues at all, and what only partner builds need (a refusal with --partners). */
export function altWorkerChecks(host: AltHost, queues: string[], o: { partners?: boolean; kvm?: boolean } = {}): { refuse: string[]; warn: string[] } {
  const base = [...altQueueProblems(host, queues), ...altHostProblems(host, { kvm: o.kvm })];
  const partnerOnly = altHostProblems(host, { kvm: o.kvm, partners: true }).filter((p) => !base.includes(p));
  return o.partners ? { refuse: [...base, ...partnerOnly], warn: [] } : { refuse: base, warn: partnerOnly };
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run build workers for task queues until interrupted',
  usage,
  async run(args, io) {
    const { values } = parseCommandArgs(args, { queue: { type: 'string', multiple: true }, toolchain: { type: 'string' }, 'max-activities': { type: 'string' }, 'no-takeover': { type: 'boolean' }, partners: { type: 'boolean' } }, usage);
    const given = values.queue?.flatMap((q) => q.split(',')).filter(Boolean);
    let queues = given ?? defaultQueues();
    let registry: KindRegistry | undefined;
    if (values.toolchain !== undefined) {
      if (values.toolchain !== 'alt' && values.toolchain !== 'debian') throw new UserError(`--toolchain: expected alt or debian, got "${values.toolchain}"\nusage: ${usage}`, EXIT.usage);
      if (values.toolchain === 'alt') {
        const setup = altWorkerSetup(given, process.env, { partners: values.partners === true });
        ({ queues, registry } = setup);
        for (const w of setup.warnings) io.stderr.write(`${w}\n`);
      }
    }
    if (values.partners && values.toolchain !== 'alt') throw new UserError(`--partners goes with --toolchain alt\nusage: ${usage}`, EXIT.usage);
    const ctx = new CliContext();
    const logger = ctx.logger('worker', 'stderr');
    const client = await ctx.client();
    const workers = await startWorkers({
      config: ctx.config, logger, client, queues, registry, takeover: values['no-takeover'] !== true,
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
