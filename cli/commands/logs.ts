// `sborka logs`: a build's step logs, from this machine's log directory or, for a step that
// ran on another host, from the remote store (activities/log-read.ts).
import * as path from 'node:path';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { openStepLog, type LogSource } from '../../activities/log-read';
import { safeSegment } from '../../activities/step-log';
import type { Config } from '../../config/config';
import { buildView, planOfBuild } from '../../service/builds';

const usage = 'sborka logs <build-id> [--variant V] [--step S] [--follow]';

interface StepRef {
  buildId: string;
  variantId: string;
  stepId: string;
  /** The path the status names: its log directory is looked in too, when it is that step's log. */
  logPath?: string;
}

/** The log directory a status path belongs to, if the path is <dir>/<build>/<variant>/<step>.log. */
function statusLogDir(s: StepRef): string[] {
  if (!s.logPath || !path.isAbsolute(s.logPath)) return [];
  const tail = path.join(safeSegment(s.buildId), safeSegment(s.variantId), `${safeSegment(s.stepId)}.log`);
  const norm = path.normalize(s.logPath);
  return norm.endsWith(path.sep + tail) ? [norm.slice(0, -(tail.length + 1))] : [];
}

/** Copies new bytes of a growing log to `out` until `stop()` says the writer is done. */
async function tail(open: () => Promise<LogSource | undefined>, out: NodeJS.WritableStream, stop: () => Promise<boolean>, remote: boolean): Promise<void> {
  let offset = 0;
  for (;;) {
    const finished = await stop();
    const log = await open();
    while (log && log.size > offset) {
      const end = Math.min(log.size, offset + (1 << 20));
      const bytes = await log.read(offset, end);
      if (bytes.length === 0) break;
      out.write(bytes);
      offset += bytes.length;
    }
    if (finished) return;
    await new Promise((r) => setTimeout(r, log?.where === 'store' || (!log && remote) ? 1000 : 300));
  }
}

export async function printLogs(config: Config, client: Awaited<ReturnType<CliContext['client']>>, buildId: string, opts: { variant?: string; step?: string; follow: boolean }, out: NodeJS.WritableStream): Promise<void> {
  const view = await buildView(client, buildId);
  const steps = view.variants
    .filter((v) => !opts.variant || v.variantId === opts.variant)
    .flatMap((v) => v.steps.filter((s) => !opts.step || s.id === opts.step).map((s) => ({ v, s })));
  if (steps.length === 0) throw new UserError(`no step matches in build ${buildId}`);
  if (opts.follow && steps.length !== 1) throw new UserError('--follow follows one step: name it with --variant and --step', EXIT.usage);
  let owner: Promise<string | undefined> | undefined;
  const tenant = () => (owner ??= planOfBuild(client, buildId).then((p) => (p.owner.kind === 'partner' ? p.owner.name : undefined)));
  for (const { v, s } of steps) {
    if (!s.logPath && !opts.follow) continue;
    const ref: StepRef = { buildId, variantId: v.variantId, stepId: s.id, ...(s.logPath ? { logPath: s.logPath } : {}) };
    if (steps.length > 1) out.write(`==> ${v.variantId}/${s.id} (${s.state})${s.logPath ? ` ${s.logPath}` : ''}\n`);
    const running = async () => {
      if (!opts.follow) return true;
      const now = (await buildView(client, buildId)).variants.find((x) => x.variantId === v.variantId)?.steps.find((x) => x.id === s.id);
      return !now || !['running', 'pending'].includes(now.state);
    };
    await tail(() => openStepLog(config, ref, tenant, statusLogDir(ref)), out, running, config.remoteStore !== undefined);
  }
}

export const logsCommand: Command = {
  name: 'logs',
  summary: 'print (or follow) the logs of a build\'s steps, wherever they ran',
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
      await printLogs(ctx.config, await ctx.client(), buildId!, { ...(values.variant ? { variant: values.variant } : {}), ...(values.step ? { step: values.step } : {}), follow: values.follow === true }, io.stdout);
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
