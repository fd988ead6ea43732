// Running a tool for a step while keeping its output: the kinds turn the tool's own error
// lines into the failure message (a missing package, a failing script), not just "exit 100".
import { ApplicationFailure } from '@temporalio/common';
import type { KindContext, RunOptions } from '../kinds/registry';

export interface ToolRun {
  ok: boolean;
  lines: string[];
  /** The failure ctx.run threw (StepFailed, BadInput, Cancelled), when not ok. */
  failure?: unknown;
}

/** Runs argv; never throws for the program's own failure (cancellation still throws). */
export async function runTool(ctx: KindContext, argv: readonly string[], options: RunOptions & { phase?: string } = {}): Promise<ToolRun> {
  const lines: string[] = [];
  const { phase, ...runOptions } = options;
  try {
    await ctx.run(argv, {
      ...runOptions,
      onLine: (line, stream) => {
        if (lines.length >= 5000) lines.shift(); // the log file keeps everything
        lines.push(line);
        ctx.progress({ phase: phase ?? 'running', lastLine: line });
        options.onLine?.(line, stream);
      },
    });
    return { ok: true, lines };
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (err instanceof ApplicationFailure && /^cannot run /.test(err.message)) throw err; // not installed
    return { ok: false, lines, failure: err };
  }
}

/** Runs argv and throws the runner's failure (retryable unless it says otherwise) when it fails. */
export async function runOrThrow(ctx: KindContext, argv: readonly string[], options: RunOptions & { phase?: string } = {}): Promise<string[]> {
  const r = await runTool(ctx, argv, options);
  if (!r.ok) throw r.failure;
  return r.lines;
}

/** The last lines of a tool's output, for a failure message. */
export function tail(lines: readonly string[], n = 30): string {
  return lines.slice(-n).join('\n');
}
