// The smallest product (products/debian/small.sborka: the minbase root of bookworm/amd64, no
// packages of its own, one `output tar { compression gzip }`), built cold by `sborka build`
// beside what a person would type for the same file:
//   mmdebstrap --variant=minbase bookworm out.tar.gz <the project's mirror lines>
// Both start cold and both download: sborka from an empty state directory (no store, no .deb
// cache, no apt tree), mmdebstrap with its own fresh apt directory, as it always has; both from
// the same mirror (SBORKA_DEBIAN_MIRROR, else deb.debian.org, and its -updates and -security
// suites: the lines resolve puts in the lock). sborka runs first, so the baseline meets a mirror
// (and page cache) that has just served the same files.
// The embedded Temporal server and the workflow bundle belong to the installation: made before
// the clock starts. sborka's steps' seconds come from its ledger. SBORKA_BENCH_ROUNDS=n runs n
// cold rounds, the order alternating, and takes the median ratio (a busy host varies a lot).
// Run as root: npx tsc -p . && node build/bench/small.js   (SBORKA_BENCH_KEEP=1 keeps the directories)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { readLedger } from '../activities/ledger';
import { sourceLine, suiteSources } from '../activities/debian/apt';
import { loadConfig } from '../config/config';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../service/temporal-server';
import { workflowBundle } from '../service/worker';
import { CLI, coldBuildEnv, must, PROJECT_ROOT, seconds, timed, type Timed } from './cli-run';

const RECIPE = path.join(PROJECT_ROOT, 'products', 'debian', 'small.sborka');
const PRODUCT = 'debian-small';
const RATIO_TARGET = 1.15;

interface Round {
  order: string;
  baselineSeconds: number;
  baselineBytes: number;
  sborkaSeconds: number;
  ratio: number;
  steps: Record<string, { seconds: number; outcome: string }>;
}

/** One cold round, in fresh directories; `baselineFirst` swaps who meets the mirror first. */
async function round(n: number, baselineFirst: boolean, baselineArgv: string[]): Promise<Round> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-small-'));
  const baselineDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-small-baseline-'));
  const env = coldBuildEnv(stateDir, 17321);
  const config = loadConfig(env);
  try {
    const logger = pino({ level: 'warn' });
    await ensureEmbeddedServer(config, logger);
    await workflowBundle(config, logger);
    const id = `bench-small-cold-${n}`;
    const runSborka = () => timed([process.execPath, CLI, 'build', RECIPE, '--product', PRODUCT, '--arch', 'x86_64', '--id', id], env).then((r) => must('sborka build', r));
    const runBaseline = () => timed(baselineArgv, env, baselineDir).then((r) => must('mmdebstrap', r));
    let sborka: Timed;
    let baseline: Timed;
    if (baselineFirst) {
      baseline = await runBaseline();
      sborka = await runSborka();
    } else {
      sborka = await runSborka();
      baseline = await runBaseline();
    }
    const ledger = (await readLedger(config.storeDir)).filter((e) => e.buildId === id);
    return {
      order: baselineFirst ? 'baseline, then sborka' : 'sborka, then baseline',
      baselineSeconds: seconds(baseline.ms),
      baselineBytes: fs.statSync(path.join(baselineDir, 'out.tar.gz')).size,
      sborkaSeconds: seconds(sborka.ms),
      ratio: Math.round((sborka.ms / baseline.ms) * 1000) / 1000,
      steps: Object.fromEntries(ledger.map((e) => [e.stepId, { seconds: seconds(e.durationMs), outcome: e.outcome }])),
    };
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  // More rounds on a busy host: each is cold, and the order alternates (sborka first in round 1).
  const rounds = Math.max(1, Number(process.env.SBORKA_BENCH_ROUNDS ?? '1'));
  const baselineArgv = ['mmdebstrap', '--variant=minbase', 'bookworm', 'out.tar.gz', ...suiteSources('bookworm', []).map(sourceLine)];
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) results.push(await round(i + 1, i % 2 === 1, baselineArgv));
  const ratio = Math.round(median(results.map((r) => r.ratio)) * 1000) / 1000;
  const result = {
    bench: 'small',
    recipe: 'products/debian/small.sborka',
    product: PRODUCT,
    arch: 'x86_64',
    host: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavg: os.loadavg().map((l) => Math.round(l * 10) / 10) },
    baseline: {
      what: 'the plain tool by hand, cold: its own fresh apt directory, every deb downloaded from the same mirror as sborka',
      argv: baselineArgv,
    },
    sborka: {
      what: 'sborka build of the recipe, cold: an empty state directory (no store, no .deb cache, no apt tree), same mirror; steps from its ledger',
    },
    rounds: results,
    ratio,
    ratioIs: rounds > 1 ? 'the median of the rounds\' ratios' : 'sborka seconds / baseline seconds',
    target: RATIO_TARGET,
    met: ratio <= RATIO_TARGET,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
