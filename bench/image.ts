// The minimal Debian x86_64 image of products/debian/minimal.sborka, built for real, printed
// as JSON, each against bench/image-baseline.sh (the same tools in sequence, no sborka):
//  - cold: an empty state directory (no store, no .deb cache), sborka vs the baseline;
//  - warm: the same build again, every cacheable step from the store (resolve still asks the
//    mirror; resolveReusedLock says it found the Release files unchanged and took the lock);
//  - one package more: the recipe's packages plus one; does prepare-root reuse the cached
//    base layer (read from the store: the step's values.baseCached and baseKey)?
// The builds are the recipe's build steps (resolve, prepare-root, configure, img, tar): the
// tests, licenses and publishing are left out because the baseline has none of them.
// The baseline stays what a person would write by hand: one mmdebstrap run resolving by
// itself, no lock, no second layer, no store. What sborka does beyond it (resolving a lock,
// building the base layer apart so that products share it, hashing and syncing every output
// into the store) is part of what the cold ratio measures.
// The `sborka build` command runs as a child process against its own embedded Temporal
// server (started before the clock starts, stopped at the end) in a temporary state directory;
// the workflow bundle, cached with the installation, is made before the clock starts too.
// Each run lists its steps' seconds (from the ledger) and the baseline its phases' seconds.
// Run as root: npx tsc -p . && node build/bench/image.js   (SBORKA_BENCH_KEEP=1 keeps the
// state and baseline directories, with the step logs, for a closer look)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { readLedger, type LedgerEntry } from '../activities/ledger';
import { stepLogPath } from '../activities/step-log';
import type { BuildPlan } from '../plan/plan';
import { loadConfig } from '../config/config';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../service/temporal-server';
import { workflowBundle } from '../service/worker';
import { CLI, coldBuildEnv, must, PROJECT_ROOT, seconds, timed } from './cli-run';

const BASELINE = path.join(PROJECT_ROOT, 'bench', 'image-baseline.sh');
const RECIPE = path.join(PROJECT_ROOT, 'products', 'debian', 'minimal.sborka');
const BUILD_KINDS = new Set(['resolve', 'prepare-root', 'configure', 'build']);
/** The one package added: small, in main, not already in the minimal set. */
const EXTRA_PACKAGE = process.env.SBORKA_BENCH_EXTRA_PACKAGE ?? 'less';
const COLD_RATIO_TARGET = 1.1;
const WARM_TARGET_MS = 5000;

function buildPlan(env: NodeJS.ProcessEnv, extra: string[]): BuildPlan {
  const json = execFileSync(process.execPath, [CLI, 'plan', RECIPE, '--product', 'debian-minimal', '--arch', 'x86_64', '--json'], { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
  const plan = JSON.parse(json) as BuildPlan;
  for (const v of plan.variants) {
    v.steps = v.steps.filter((s) => BUILD_KINDS.has(s.kind));
    const kept = new Set(v.steps.map((s) => s.id));
    v.artifacts = v.artifacts.filter((a) => kept.has(a.step));
    for (const s of v.steps) {
      s.needs = s.needs.filter((n) => kept.has(n));
      if (s.kind === 'resolve') (s.params as { packages: string[] }).packages.push(...extra);
    }
  }
  return plan;
}

/** Each step's seconds and whether it ran or came from the store. */
function stepTimes(ledger: readonly LedgerEntry[]): Record<string, string> {
  return Object.fromEntries(ledger.map((e) => [e.stepId, `${seconds(e.durationMs)} s ${e.outcome}`]));
}

/** The baseline's phase seconds (its phases.tsv). */
function baselinePhases(dir: string): Record<string, number> {
  const text = fs.readFileSync(path.join(dir, 'phases.tsv'), 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split('\t')).map(([name, s]) => [name!, Number(s)]));
}

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-image-'));
  const baselineDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-baseline-'));
  const env = coldBuildEnv(stateDir, 17311);
  const config = loadConfig(env);
  try {
    const logger = pino({ level: 'warn' });
    await ensureEmbeddedServer(config, logger);
    // Like the server, the workflow bundle belongs to the installation, not to a build's state:
    // made (or found) before the clock starts, as after any earlier sborka run of this code.
    await workflowBundle(config, logger);
    const plain = path.join(stateDir, 'plan.json');
    const plusOne = path.join(stateDir, 'plan-plus-one.json');
    fs.writeFileSync(plain, JSON.stringify(buildPlan(env, [])));
    fs.writeFileSync(plusOne, JSON.stringify(buildPlan(env, [EXTRA_PACKAGE])));
    const sborka = (plan: string, id: string) => timed([process.execPath, CLI, 'build', plan, '--id', id], env);
    const ledgerOf = async (id: string): Promise<LedgerEntry[]> => (await readLedger(config.storeDir)).filter((e) => e.buildId === id);

    // sborka first: the baseline then meets a mirror (and page cache) that has just served the same files.
    const cold = must('sborka build (cold)', await sborka(plain, 'bench-image-cold'));
    const coldBaseline = must('baseline (cold)', await timed(['bash', BASELINE, path.join(baselineDir, 'cold')], env));
    const coldLedger = await ledgerOf('bench-image-cold');
    const warm = must('sborka build (warm)', await sborka(plain, 'bench-image-warm'));
    const warmLedger = await ledgerOf('bench-image-warm');
    const onePackageBaseline = must('baseline (one package more)', await timed(['bash', BASELINE, path.join(baselineDir, 'plus-one'), EXTRA_PACKAGE], env));
    const onePackage = must('sborka build (one package more)', await sborka(plusOne, 'bench-image-plus-one'));
    const oneLedger = await ledgerOf('bench-image-plus-one');

    const prepareValues = async (id: string) => {
      const entry = (await ledgerOf(id)).find((e) => e.stepId === 'prepare-root' && e.key);
      if (!entry?.key) throw new Error(`no prepare-root entry of ${id} in the ledger`);
      const manifest = JSON.parse(fs.readFileSync(path.join(config.storeDir, 'objects', entry.key.slice(0, 2), entry.key, 'manifest.json'), 'utf8')) as { outputs: { values: Record<string, unknown> } };
      return manifest.outputs.values;
    };
    const coldRoot = await prepareValues('bench-image-cold');
    const oneRoot = await prepareValues('bench-image-plus-one');
    const cacheable = warmLedger.filter((e) => e.stepId !== 'resolve');
    const warmResolve = warmLedger.find((e) => e.stepId === 'resolve');

    const ratio = Math.round((cold.ms / coldBaseline.ms) * 1000) / 1000;
    const result = {
      bench: 'image',
      recipe: 'products/debian/minimal.sborka',
      product: 'debian-minimal',
      arch: 'x86_64',
      steps: ['resolve', 'prepare-root', 'configure', 'build-img', 'build-tar'],
      host: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      cold: {
        sborkaSeconds: seconds(cold.ms),
        baselineSeconds: seconds(coldBaseline.ms),
        ratio,
        target: COLD_RATIO_TARGET,
        met: ratio <= COLD_RATIO_TARGET,
        sborkaSteps: stepTimes(coldLedger),
        baselinePhases: baselinePhases(path.join(baselineDir, 'cold')),
      },
      warm: {
        sborkaSeconds: seconds(warm.ms),
        targetSeconds: WARM_TARGET_MS / 1000,
        met: warm.ms < WARM_TARGET_MS,
        cachedSteps: cacheable.filter((e) => e.outcome === 'cached').length,
        cacheableSteps: cacheable.length,
        processesSpawnedByCachedSteps: cacheable.flatMap((e) => e.pids).length,
        resolveRan: warmLedger.some((e) => e.stepId === 'resolve' && e.outcome === 'succeeded'),
        // It asked the mirror and found the Release files of the cold build's lock unchanged.
        resolveReusedLock: warmResolve !== undefined && fs.readFileSync(stepLogPath(config.logDir, 'bench-image-warm', warmResolve.variantId, 'resolve'), 'utf8').includes('its lock is reused'),
        sborkaSteps: stepTimes(warmLedger),
      },
      onePackageMore: {
        package: EXTRA_PACKAGE,
        sborkaSeconds: seconds(onePackage.ms),
        baselineSeconds: seconds(onePackageBaseline.ms),
        ratio: Math.round((onePackage.ms / onePackageBaseline.ms) * 1000) / 1000,
        baseLayerReused: oneRoot.baseCached === true && oneRoot.baseKey === coldRoot.baseKey,
        baseKey: oneRoot.baseKey,
        productPackages: { before: coldRoot.productPackages, after: oneRoot.productPackages },
        stepsRun: oneLedger.filter((e) => e.outcome === 'succeeded').map((e) => e.stepId),
        stepsCached: oneLedger.filter((e) => e.outcome === 'cached').map((e) => e.stepId),
        sborkaSteps: stepTimes(oneLedger),
        baselinePhases: baselinePhases(path.join(baselineDir, 'plus-one')),
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await stopEmbeddedServer(config);
    if (process.env.SBORKA_BENCH_KEEP === '1') {
      process.stderr.write(`kept: ${stateDir} ${baselineDir}\n`);
    } else {
      fs.rmSync(stateDir, { recursive: true, force: true });
      fs.rmSync(baselineDir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
