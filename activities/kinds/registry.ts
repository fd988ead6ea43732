// Which code runs a step: executors keyed by (toolchain, kind). Core kinds serve every
// toolchain; a toolchain's own executor for a kind takes precedence. The rows that fill a
// registry are in all.ts.
import type { Logger } from 'pino';
import { STEP_PARAMS, type StepKind, type StepParams } from '../../plan/step-params';
import type { z } from 'zod';
import type { Step, Toolchain as ToolchainSchema } from '../../plan/plan';
import type { Owner } from '../../plan/schemas';
import type { Config } from '../../config/config';
import { badInput } from '../failures';
import type { ProcessOutcome } from '../process-runner';
import type { StepProgress } from '../../plan/step-contract';
import type { StoreEntry } from '../store';

export type Toolchain = z.infer<typeof ToolchainSchema>;
export type ToolchainName = Toolchain['name'];

export interface RunOptions {
  /** Added to the base environment (PATH, HOME, TMPDIR, LANG, TZ). */
  env?: Record<string, string>;
  cwd?: string;
  nonRetryableExitCodes?: readonly number[];
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface KindContext {
  /** The build and variant this step runs for (publishing names versions by them). */
  buildId: string;
  variantId: string;
  /** The plan's owner (community when absent): license decisions are scoped by it. */
  owner?: z.infer<typeof Owner>;
  step: Step;
  toolchain: Toolchain;
  /** The committed entries of the steps this one needs, by step id. */
  inputs: Record<string, StoreEntry>;
  /** Everything written here becomes the step's outputs. */
  outputsDir: string;
  /** Scratch space (also HOME, TMPDIR and the programs' cwd); discarded at commit. */
  workDir: string;
  logPath: string;
  attempt: number;
  logger: Logger;
  signal: AbortSignal;
  config: Config;
  progress(update: Omit<StepProgress, 'pid'>): void;
  /** Runs a program through the process runner; throws the mapped Temporal failure unless it succeeds. */
  run(argv: readonly string[], options?: RunOptions): Promise<ProcessOutcome>;
}

export interface KindResult {
  /** Small structured results recorded in the manifest. */
  values?: Record<string, unknown>;
  /** sha256 of outputs the kind computed already, by path under outputsDir: the store does not read them again. */
  digests?: Record<string, string>;
}

export interface KindExecutor {
  kind: string;
  execute(ctx: KindContext): Promise<KindResult>;
  /** Digest of what the step reads from the host outside the store; joins its cache key. */
  hostInputs?(step: Step, config: Config): Promise<string | undefined>;
}

/** An executor whose params are parsed by the kind's own schema, so it gets them typed. */
export function defineKind<K extends StepKind>(
  kind: K,
  run: (ctx: KindContext, params: StepParams<K>) => Promise<KindResult>,
  hostInputs?: (params: StepParams<K>, config: Config) => Promise<string | undefined>,
): KindExecutor {
  const parse = (step: Step): StepParams<K> => {
    const parsed = STEP_PARAMS[kind].safeParse(step.params);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `params.${i.path.join('.')}: ${i.message}`).join('; ');
      throw badInput(`step "${step.id}" (${kind}): ${problems}`);
    }
    return parsed.data as StepParams<K>;
  };
  return {
    kind,
    execute: (ctx) => run(ctx, parse(ctx.step)),
    hostInputs: hostInputs && ((step, config) => hostInputs(parse(step), config)),
  };
}

export class KindRegistry {
  private readonly executors = new Map<string, KindExecutor>();

  /** `toolchain` '*' makes the executor available to every toolchain. */
  register(toolchain: ToolchainName | '*', executor: KindExecutor): this {
    this.executors.set(`${toolchain}/${executor.kind}`, executor);
    return this;
  }

  resolve(toolchain: ToolchainName, kind: string): KindExecutor | undefined {
    return this.executors.get(`${toolchain}/${kind}`) ?? this.executors.get(`*/${kind}`);
  }
}
