// The runStep activity: one step of a variant. Cache lookup first (a hit spawns nothing, and
// a corrupted entry is quarantined and named in the result), otherwise the kind's executor
// writes into a staging directory that is committed to the store, in the partner's namespace
// when the step is made of partner content (store-tenancy.ts). Every attempt gets a ledger
// line when it starts and one when it ends, and keeps its log.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { badInput, stepFailed, unsupportedStep } from './failures';
import { recordProgress } from './heartbeat';
import { defaultRegistry } from './kinds/all';
import type { KindContext, KindRegistry } from './kinds/registry';
import { beginAttempt, type LedgerEntry, type Quarantined } from './ledger';
import { reapAbandonedStaging, STAGING_ENV } from './orphans';
import { runChecked, stepEnv } from './process-runner';
import { CacheProbeInput, StepInput, StepProgress, StepResult, type CacheProbeHit, type CacheProbeResult } from '../plan/step-contract';
import { finishInBackground, shipLog } from './log-ship';
import { appendLogLines, stepLogPath } from './step-log';
import type { StepStore, StoreEntry } from './store';
import { openStepStore } from './store-remote';
import { hitLine, placeStep, quarantineLine } from './store-placement';

export interface RunStepDeps {
  config: Config;
  logger: Logger;
  /** Defaults to the core kinds; toolchain adapters pass a registry extended with theirs. */
  registry?: KindRegistry;
  /** Between SIGTERM and SIGKILL when a step is cancelled. */
  killGraceMs?: number;
}

export function createRunStep(deps: RunStepDeps): (input: StepInput) => Promise<StepResult> {
  const store = openStepStore(deps.config, deps.logger);
  const registry = deps.registry ?? defaultRegistry();

  return async function runStep(raw: StepInput): Promise<StepResult> {
    const ctx = Context.current();
    const parsed = StepInput.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
      throw badInput(`runStep got a bad input: ${problems.join('; ')}`);
    }
    const input = parsed.data;
    const { step, toolchain } = input;
    const attempt = ctx.info.attempt;
    const logPath = stepLogPath(deps.config.logDir, input.buildId, input.variantId, step.id);
    const logger = deps.logger.child({ buildId: input.buildId, variantId: input.variantId, stepId: step.id, kind: step.kind, attempt });
    // With a remote store the log also streams there, for the API on any host (log-ship.ts).
    const shipper = shipLog(deps.config, logIdOf(input.owner, input.buildId, input.variantId, step.id), logPath, { logger });
    const started = Date.now();
    const pids: number[] = [];
    const quarantined: Quarantined[] = [];
    const record = await beginAttempt(deps.config.storeDir, { buildId: input.buildId, variantId: input.variantId, stepId: step.id, kind: step.kind, attempt });
    const ledger = (outcome: LedgerEntry['outcome'], key: string | undefined, error?: string) =>
      record.finish({
        key, outcome, pids, ...(error === undefined ? {} : { error: error.slice(0, 2000) }), ...(quarantined.length > 0 ? { quarantined } : {}),
      });
    const result = (entry: StoreEntry, cached: boolean): StepResult => resultOf(entry, cached, logPath, started, quarantined);

    if (attempt > 1) {
      const previous = StepProgress.safeParse(ctx.info.heartbeatDetails);
      const reached = previous.success ? JSON.stringify(previous.data) : 'no heartbeat';
      logger.info({ previous: previous.success ? previous.data : undefined }, 'retrying step');
      await appendLogLines(logPath, [`--- sborka: attempt ${attempt}; the previous attempt last reported ${reached}`]);
    }

    const executor = registry.resolve(toolchain.name, step.kind);
    // Inputs are looked up in the partner's view: its own namespace, then the shared one.
    const view = input.owner?.kind === 'partner' ? store.forTenant(input.owner.name) : store;
    let key: string | undefined;
    let scope = store;
    try {
      const missing = step.needs.filter((n) => input.inputs[n] === undefined);
      if (missing.length > 0) throw badInput(`step "${step.id}": inputs lack the steps it needs: ${missing.join(', ')}`);
      if (!executor) throw unsupportedStep(step.kind, toolchain.name);
      ({ key, scope } = await placeStep(executor, step, input, store, deps.config));
      if (key !== undefined) {
        const { entry: hit, quarantined: bad } = await scope.lookupChecked(key);
        quarantined.push(...bad);
        for (const q of bad) await appendLogLines(logPath, [quarantineLine(attempt, q)]);
        if (hit) {
          await appendLogLines(logPath, [hitLine(attempt, key)]);
          await ledger('cached', key);
          logger.debug({ key }, 'cache hit');
          finishInBackground(shipper);
          return result(hit, true);
        }
      }
    } catch (err) {
      const failure = asFailure(err, step.id);
      await appendLogLines(logPath, [`--- sborka: attempt ${attempt} failed: ${firstLine(failure.message)}`]);
      await ledger('failed', key, failure.message);
      await shipper?.finish();
      throw failure;
    }

    let current: StepProgress = { phase: 'starting' };
    const progress = (update: Partial<StepProgress>) => {
      current = { ...current, ...update };
      if (update.lastLine !== undefined) current.lastLine = update.lastLine.slice(0, 200); // details stay small
      recordProgress(current); // the attempt's heartbeat sends it (attempt-interceptor.ts)
    };
    let staging: Awaited<ReturnType<StepStore['createStaging']>> | undefined;
    try {
      const inputs: Record<string, StoreEntry> = {};
      for (const [stepId, inputKey] of Object.entries(input.inputs)) {
        const { entry, quarantined: bad } = await view.lookupChecked(inputKey);
        quarantined.push(...bad);
        if (bad.length > 0 && !entry) {
          throw badInput(`step "${step.id}": input "${stepId}" (store key ${inputKey}) failed verification and was quarantined to ${bad[0]!.movedTo} (${bad[0]!.reason}); build "${stepId}" again`);
        }
        if (!entry) {
          throw badInput(`step "${step.id}": input "${stepId}" (store key ${inputKey}) is not in the store at ${deps.config.storeDir}; it was removed or this worker uses another store`);
        }
        inputs[stepId] = entry;
      }
      await reapAbandonedStaging(store);
      staging = await store.createStaging();
      const { workDir, dir: stagingDir } = staging;
      progress({ phase: 'running' });
      const kindCtx: KindContext = {
        buildId: input.buildId, variantId: input.variantId, ...(input.owner ? { owner: input.owner } : {}), step, toolchain, inputs, outputsDir: staging.outputsDir, workDir, logPath, attempt, logger,
        signal: ctx.cancellationSignal,
        // A partner's step sees its namespace as the store (kinds that keep entries of their own, like root layers).
        config: scope.tenant === undefined ? deps.config : { ...deps.config, storeDir: scope.root },
        progress,
        run: (argv, options = {}) =>
          runChecked({
            argv, logPath, attempt, logger, signal: ctx.cancellationSignal, killGraceMs: deps.killGraceMs,
            cwd: options.cwd ?? workDir,
            env: { ...stepEnv(workDir), ...options.env, [STAGING_ENV]: stagingDir },
            nonRetryableExitCodes: options.nonRetryableExitCodes,
            onSpawn: (pid) => {
              pids.push(pid);
              progress({ pid });
            },
            onLine: options.onLine ?? ((line) => progress({ lastLine: line })),
          }),
      };
      const { values, digests } = await executor!.execute(kindCtx);
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      progress({ phase: 'storing' });
      const entry = await scope.commit(staging, { key, kind: step.kind, values, digests });
      staging = undefined;
      await ledger('succeeded', entry.key);
      if (quarantined.length > 0) logger.warn({ key: entry.key, quarantined }, 'step rebuilt after its store entry failed verification');
      return result(entry, false);
    } catch (err) {
      if (staging) await store.discard(staging);
      const cancelled = err instanceof CancelledFailure || ctx.cancellationSignal.aborted;
      const failure = cancelled ? asCancelled(err, ctx.cancellationSignal) : asFailure(err, step.id);
      await appendLogLines(logPath, [`--- sborka: attempt ${attempt} ${cancelled ? 'cancelled' : 'failed'}: ${firstLine(failure.message)}`]);
      await ledger(cancelled ? 'cancelled' : 'failed', key, failure.message);
      logger.warn({ err: failure.message }, cancelled ? 'step cancelled' : 'step failed');
      throw failure;
    } finally {
      await shipper?.finish();
    }
  };
}

/**
 * The probeCache activity (see CacheProbeInput). A hit is recorded exactly as runStep
 * records one (log line, ledger line, nothing spawned). Steps it cannot key (not cacheable,
 * a need that missed, an unknown kind, unreadable host inputs) are left to runStep, which
 * reports their failures properly, and so are a license review and what follows it.
 */
export function createProbeCache(deps: RunStepDeps): (input: CacheProbeInput) => Promise<CacheProbeResult> {
  const store = openStepStore(deps.config, deps.logger);
  const registry = deps.registry ?? defaultRegistry();

  return async function probeCache(raw: CacheProbeInput): Promise<CacheProbeResult> {
    const ctx = Context.current();
    const parsed = CacheProbeInput.safeParse(raw);
    if (!parsed.success) throw badInput(`probeCache got a bad input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const { buildId, variantId, toolchain, steps, owner } = parsed.data;
    const attempt = ctx.info.attempt;
    const hits: CacheProbeHit[] = [];
    const hitKeys = new Map<string, string>();
    const missed = new Set<string>();
    // Topological order without trusting the plan's order: settle whatever has settled needs, repeat.
    let open = steps;
    while (open.length > 0) {
      const next: typeof steps = [];
      for (const step of open) {
        if (step.needs.some((n) => missed.has(n))) {
          missed.add(step.id);
          continue;
        }
        if (!step.needs.every((n) => hitKeys.has(n))) {
          next.push(step);
          continue;
        }
        const started = Date.now();
        const inputs = Object.fromEntries(step.needs.map((n) => [n, hitKeys.get(n)!]));
        const executor = registry.resolve(toolchain.name, step.kind);
        const placed = executor ? await placeStep(executor, step, { inputs, toolchain, owner }, store, deps.config).catch(() => undefined) : undefined;
        const key = placed?.key;
        // A bad entry is left where it is: runStep finds it again, quarantines it and names it in its result.
        const entry = key === undefined ? undefined : (await placed!.scope.lookupChecked(key, { quarantine: false })).entry;
        // A cached license verdict 'review' needs an operator again in this build: runStep
        // returns it to the workflow, which waits; its dependents must not count as done before.
        if (key === undefined || !entry || entry.manifest.outputs.values.verdict === 'review') {
          missed.add(step.id);
          continue;
        }
        const record = await beginAttempt(deps.config.storeDir, { buildId, variantId, stepId: step.id, kind: step.kind, attempt });
        const logPath = stepLogPath(deps.config.logDir, buildId, variantId, step.id);
        const shipper = shipLog(deps.config, logIdOf(owner, buildId, variantId, step.id), logPath, { logger: deps.logger });
        await appendLogLines(logPath, [hitLine(attempt, key)]);
        await record.finish({ key, outcome: 'cached', pids: [] });
        finishInBackground(shipper);
        hitKeys.set(step.id, entry.key);
        hits.push({ stepId: step.id, key: entry.key, outputDir: entry.outputsDir, logPath, durationMs: Date.now() - started });
      }
      // A need that is not among the steps never settles: leave those steps to runStep.
      if (next.length === open.length) break;
      open = next;
    }
    deps.logger.debug({ buildId, variantId, hits: hits.length, steps: steps.length }, 'cache probe');
    return { hits };
  };
}

/** A log lives in its build owner's namespace, where the API looks for it. */
function logIdOf(owner: StepInput['owner'], buildId: string, variantId: string, stepId: string) {
  return { ...(owner?.kind === 'partner' ? { tenant: owner.name } : {}), buildId, variantId, stepId };
}

function resultOf(entry: StoreEntry, cached: boolean, logPath: string, started: number, quarantined: Quarantined[]): StepResult {
  // Named in the result (not the manifest): this build rebuilt it, later hits did not.
  const values = quarantined.length > 0 ? { ...entry.manifest.outputs.values, rebuiltAfterCorruption: quarantined } : entry.manifest.outputs.values;
  return { key: entry.key, cached, outputDir: entry.outputsDir, outputs: { ...entry.manifest.outputs, values }, logPath, durationMs: Date.now() - started };
}

function asCancelled(err: unknown, signal: AbortSignal): CancelledFailure {
  if (err instanceof CancelledFailure) return err;
  return signal.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure('step cancelled');
}

/** Temporal failures pass as they are; anything else (a full disk, a bug) becomes a retryable StepFailed. */
function asFailure(err: unknown, stepId: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const message = err instanceof Error ? err.message : String(err);
  return stepFailed(`step "${stepId}": ${message}`);
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
