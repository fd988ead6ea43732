// Running hasher's tools for a step: lines captured for parsing, and hasher's known
// failures turned into messages that say what happened and what to do.
import { ApplicationFailure } from '@temporalio/common';
import { badInput, stepFailed } from '../failures';
import type { KindContext } from '../kinds/registry';

export interface ToolRun {
  stdout: string[];
  stderr: string[];
  exitCode: number | null;
}

/** Runs argv; stdout lines are kept only when asked (an rpm -qa dump), stderr always. */
export async function runTool(ctx: KindContext, argv: readonly string[], o: { keepStdout?: boolean; env?: Record<string, string>; onLine?: (line: string, stream: 'stdout' | 'stderr') => void; nonRetryableExitCodes?: number[] } = {}): Promise<ToolRun> {
  const out: ToolRun = { stdout: [], stderr: [], exitCode: null };
  try {
    const outcome = await ctx.run(argv, {
      nonRetryableExitCodes: o.nonRetryableExitCodes,
      ...(o.env ? { env: o.env } : {}),
      onLine: (line, stream) => {
        if (stream === 'stderr') out.stderr.push(line);
        else if (o.keepStdout) out.stdout.push(line);
        o.onLine?.(line, stream);
        ctx.progress({ phase: argv[0] ?? 'tool', lastLine: line });
      },
    });
    out.exitCode = outcome.exitCode;
    return out;
  } catch (err) {
    throw explain(err, argv, out.stderr);
  }
}

/** hasher's failure messages (hsh-sh-functions, hasher-priv) mapped to what a maintainer does about them. */
export function explain(err: unknown, argv: readonly string[], stderr: readonly string[]): unknown {
  if (!(err instanceof ApplicationFailure)) return err;
  const exitCode = (err.details?.[0] as { exitCode?: number } | undefined)?.exitCode;
  const text = stderr.join('\n');
  const program = argv[0];
  const lockedBy = /is already locked by (?:stale )?pid=(\d+)/.exec(text);
  if (/Failed to lock hasher-priv|Unable to lock working directory/.test(text)) {
    const num = argv.find((a) => a.startsWith('--number='))?.slice('--number='.length);
    return stepFailed(
      `${program}: hasher subconfig ${num ?? '?'} or its workdir is locked by another process${lockedBy ? ` (pid ${lockedBy[1]})` : ''}; ` +
        `sborka passes --no-wait-lock so a busy subconfig fails the attempt instead of hanging it, and the retry takes another one. ` +
        `If nothing else should use it, find the holder with "fuser /etc/hasher-priv/user.d/*" or remove the stale lock.\n${err.message}`,
      err.details?.[0],
    );
  }
  // hasher-priv/chdiruid.c 59-64: a chroot outside its prefix.
  const prefix = /hasher-priv: (\S+): prefix mismatch, .*prefix list \(([^)]*)\)/.exec(text);
  if (prefix) {
    return badInput(`${program}: hasher-priv works only under its prefix "${prefix[2]}" and ${prefix[1]} is outside it: put the hasher workdirs (SBORKA_ALT_HASHER_DIR) under it, or add the directory to prefix= in /etc/hasher-priv/system\n${err.message}`, err.details?.[0]);
  }
  // hasher-privd.c 127-131: the daemon drops a caller below min_uid (root) without a word to it.
  if (/hasher-priv: failed to receive header in response to session request/.test(text)) {
    return badInput(`${program}: hasher-priv refused this caller (hasher-privd logs "invalid uid" for root or a uid below its min_uid): run the worker as a build user set up with "hasher-useradd USER"\n${err.message}`, err.details?.[0]);
  }
  const notAllowed = /(\/\S+): mount point is not allowed/.exec(text);
  if (notAllowed) {
    return badInput(`${program}: hasher-priv refused ${notAllowed[1]}: add it to allowed_${notAllowed[1]!.startsWith('/dev/') && notAllowed[1] !== '/dev/pts' ? 'devices' : 'mountpoints'} in /etc/hasher-priv/system\n${err.message}`, err.details?.[0]);
  }
  if (exitCode === 143) {
    const limit = /(\w[\w ]* limit \(\d+ \w+\) exceeded)/.exec(text);
    return stepFailed(`${program}: ended by hasher-priv's work limits (exit 143${limit ? `: ${limit[1]}` : ''}); raise wlimit_* in hasher-priv's config if the step is legitimately long or quiet\n${err.message}`, err.details?.[0]);
  }
  return err;
}
