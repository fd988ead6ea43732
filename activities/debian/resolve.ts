// resolve (debian): the exact package set of a recipe against the suite's real, signed
// indexes, by apt's own solver in a private apt tree (update + simulated install from an
// empty root). Two simulations: the base set (essential, Priority:required, apt) and the
// base plus the recipe's packages and kernel; their difference is the product layer.
// The apt tree persists between builds (apt-state.ts) and every build updates it, so a
// changed mirror is always seen; when its Release files are unchanged, the lock computed
// from them for the same request is reused (lock-memo.ts).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { debianArch } from '../../plan/arches';
import type { Repo } from '../../plan/model';
import type { Config } from '../../config/config';
import { badInput } from '../failures';
import { recipeInput } from '../recipe-inputs';
import { defineKind, type KindContext } from '../kinds/registry';
import type { StepParams } from '../../plan/step-params';
import { indexKey, kernelFlavours, newestReleaseDate, parseSimulation, readPackageIndexes, suiteSources, type AptRoot, type IndexEntry, type SimulatedInstall } from './apt';
import { withAptState } from './apt-state';
import { LOCK_FILE, lockJson, type AptSource, type Lock, type LockedPackage } from './lock';
import { readMemo, releaseFilesDigest, requestKey, writeMemo } from './lock-memo';
import { appendLogLines } from '../step-log';
import { runOrThrow, runTool } from './run-tool';

type ResolveParams = StepParams<'resolve'>;

const PACKAGE_NAME = /^[a-z0-9][a-z0-9.+-]*[a-z0-9.+]$/;
/** What minbase installs: mmdebstrap's and debootstrap's definition of a minimal root. */
const BASE_SET = ['?essential', '?priority(required)', 'apt'];
/** Kernel flavours that mean Debian's default kernel (linux-image-<arch>). */
const DEFAULT_FLAVOURS = new Set(['default', 'generic', 'std']);

export const resolveKind = defineKind('resolve', async (ctx, params) => {
  const stepId = ctx.step.id;
  const debArch = debianArch(params.arch);
  if (!debArch) throw badInput(`step "${stepId}": the debian toolchain does not build ${params.arch}`);
  for (const name of [...params.packages, ...params.exclude]) {
    if (!PACKAGE_NAME.test(name)) throw badInput(`step "${stepId}": package "${name}" is not a valid Debian package name`);
  }
  const repos = await Promise.all(params.repos.map((r, i) => withKeyPath(stepId, i, r, params.recipeDir, ctx.config)));
  const sources = suiteSources(params.branch, repos);
  const resolveFrom = (from: AptSource[], mayDrop: boolean) =>
    withAptState(ctx.config, debArch, from, ctx.signal, (apt) => resolveWith(ctx, params, debArch, from, apt, mayDrop));
  let lock: Lock;
  try {
    lock = await resolveFrom(sources, true);
  } catch (err) {
    if (!(err instanceof BrokenSuites)) throw err;
    // A -updates or -security suite whose index does not match its Release (a mirror mid-sync,
    // as trixie's riscv64 ones on ours): the suite itself still resolves, without them, said loudly.
    const names = err.broken.map((b) => `${b.uri} ${b.suite}`).join(', ');
    await appendLogLines(ctx.logPath, [`--- sborka: WARNING: resolving without ${names}: the mirror's index does not match its Release file`]);
    ctx.logger.warn({ step: stepId, dropped: names }, 'resolve: update suites dropped');
    lock = await resolveFrom(sources.filter((s) => !err.broken.includes(s)), false);
  }
  // Nothing in the outputs says whether the lock was reused: the same lock must give the same key.
  await fs.writeFile(path.join(ctx.outputsDir, LOCK_FILE), lockJson(lock));
  return {
    values: {
      suite: lock.suite, arch: lock.arch, debArch, sourceDateEpoch: lock.sourceDateEpoch, packages: lock.packages.length,
      basePackages: lock.packages.filter((p) => p.layer === 'base').length,
      ...(lock.kernel ? { kernelRelease: lock.kernel.release } : {}),
    },
  };
});

/** Optional suites whose update failed: resolve again without them. */
class BrokenSuites extends Error {
  constructor(readonly broken: AptSource[]) {
    super(`the update of ${broken.map((b) => b.suite).join(', ')} failed`);
  }
}

/**
 * Updates the lists of the shared apt tree, then takes the lock memoized for these Release
 * files and this request, or computes it with apt's solver (and memoizes it). With mayDrop,
 * optional suites whose update failed are thrown as BrokenSuites.
 */
async function resolveWith(ctx: KindContext, params: ResolveParams, debArch: string, sources: AptSource[], apt: AptRoot, mayDrop: boolean): Promise<Lock> {
  const stepId = ctx.step.id;
  const env = { APT_CONFIG: apt.config };
  ctx.progress({ phase: 'apt-get update' });
  // No package cache here: a reused lock needs none, and the simulations make it when they run.
  const update = await runTool(ctx, ['apt-get', 'update', '-o', 'pkgCacheFile::Generate=false'], { env, phase: 'apt-get update' });
  if (!update.ok) {
    const broken = mayDrop ? brokenUpdateSources(update.lines, sources, params.branch) : [];
    if (broken.length === 0) throw update.failure;
    throw new BrokenSuites(broken);
  }
  const lists = await fs.readdir(apt.listsDir);
  const mainIndex = `_dists_${params.branch}_main_binary-${debArch}_Packages`;
  if (!lists.some((f) => f.endsWith(mainIndex))) {
    throw badInput(`step "${stepId}": suite ${params.branch} has no ${debArch} packages at ${sources[0]!.uri} (got: ${lists.filter((f) => f.endsWith('_Packages')).join(', ') || 'no Packages index'})`);
  }
  const releases = await releaseFilesDigest(apt.listsDir);
  const key = await requestKey({ params, debArch }, sources);
  const memo = await readMemo(apt.dir, releases, key);
  if (memo) {
    await appendLogLines(ctx.logPath, [`--- sborka: the mirror's Release files are those this request was resolved against before: its lock is reused (Release files ${releases.slice(0, 16)}, request ${key.slice(0, 16)})`]);
    ctx.logger.info({ step: stepId, releases, request: key }, 'resolve: lock reused, the mirror is unchanged');
    return memo;
  }
  const lock = await computeLock(ctx, params, debArch, sources, apt, env);
  await writeMemo(apt.dir, releases, key, lock);
  return lock;
}

/** The lock by apt's solver over the indexes: two simulations, the base set and the base plus the request. */
async function computeLock(ctx: KindContext, params: ResolveParams, debArch: string, sources: AptSource[], apt: AptRoot, env: Record<string, string>): Promise<Lock> {
  const stepId = ctx.step.id;
  const removals = params.exclude.map((e) => `${e}-`);
  const kernel = params.kernel ? kernelPackage(params.kernel, debArch) : undefined;
  const requested = [...params.packages, ...(kernel ? [kernel] : [])];
  // apt's package cache once, then both simulations and the reading of the indexes side by
  // side: none needs another's result (the kernel's package is named by its flavour). With
  // nothing requested there is one simulation, which makes the cache itself.
  if (requested.length) {
    ctx.progress({ phase: 'apt-cache gencaches' });
    await runOrThrow(ctx, ['apt-cache', 'gencaches'], { env, phase: 'apt-cache gencaches' });
  }
  ctx.progress({ phase: 'resolving the base set and the packages' });
  const baseSim = simulate(ctx, env, [...BASE_SET, ...removals], 'the base system (essential, required, apt)');
  // Nothing requested: the full set is the base set, one simulation (the same argv) gives both.
  const fullSim = requested.length ? simulate(ctx, env, [...BASE_SET, ...requested, ...removals], `the packages ${requested.join(', ')}`) : baseSim;
  const [baseRun, fullRun, indexRun] = await Promise.allSettled([
    baseSim,
    fullSim,
    Promise.all([readPackageIndexes(apt.listsDir), newestReleaseDate(apt.listsDir)]),
  ]);
  // All settled (no apt left running behind the step), the failures told in the order the
  // steps depend on each other: the base set, the indexes, the kernel flavour, the packages.
  if (baseRun.status === 'rejected') throw baseRun.reason;
  if (indexRun.status === 'rejected') throw indexRun.reason;
  const [index, sourceDateEpoch] = indexRun.value;
  if (params.kernel && kernel) checkKernel(stepId, params.kernel, kernel, debArch, index);
  if (fullRun.status === 'rejected') throw fullRun.reason;
  const base = baseRun.value;
  const full = fullRun.value;
  if (sourceDateEpoch === undefined) throw badInput(`step "${stepId}": the Release files of ${params.branch} carry no Date`);

  const baseKeys = new Set(base.map((p) => indexKey(p.name, p.version, p.arch)));
  const packages: LockedPackage[] = full.map((p) => {
    const entry = index.get(indexKey(p.name, p.version, p.arch));
    if (!entry) throw new Error(`apt chose ${p.name} ${p.version} ${p.arch}, which no downloaded index lists`);
    return { name: p.name, version: p.version, arch: p.arch, source: entry.source, sourceVersion: entry.sourceVersion, sha256: entry.sha256, layer: baseKeys.has(indexKey(p.name, p.version, p.arch)) ? ('base' as const) : ('product' as const) };
  }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const excluded = packages.filter((p) => params.exclude.includes(p.name));
  if (excluded.length) throw badInput(`step "${stepId}": excluded packages would still be installed: ${excluded.map((p) => p.name).join(', ')}`);

  return {
    lockVersion: 1,
    suite: params.branch,
    arch: params.arch,
    debArch,
    mirror: sources[0]!.uri,
    sources,
    sourceDateEpoch,
    requested: params.packages,
    exclude: params.exclude,
    ...(kernel && params.kernel ? { kernel: { flavour: params.kernel, package: kernel, release: kernelRelease(stepId, kernel, debArch, packages) } } : {}),
    packages,
  };
}

/** The default -updates/-security sources whose index apt could not fetch (never the suite itself or a recipe's repo). */
function brokenUpdateSources(lines: readonly string[], sources: readonly AptSource[], suite: string): AptSource[] {
  const failed = lines.map((l) => /Failed to fetch (\S+)/.exec(l)?.[1]).filter((u): u is string => u !== undefined);
  if (failed.length === 0) return [];
  const optional = sources.filter((s) => s.suite === `${suite}-updates` || s.suite === `${suite}-security`);
  const owner = (url: string) => sources.find((s) => url.startsWith(`${s.uri}/dists/${s.suite}/`));
  if (failed.some((u) => { const o = owner(u); return o === undefined || !optional.includes(o); })) return [];
  return optional.filter((s) => failed.some((u) => owner(u) === s));
}

/** apt's simulated installation from an empty root; its errors (an unknown package, a conflict) are the recipe's. */
async function simulate(ctx: KindContext, env: Record<string, string>, args: readonly string[], what: string): Promise<SimulatedInstall[]> {
  const run = await runTool(ctx, ['apt-get', 'install', '--simulate', '--quiet', ...args], { env });
  if (!run.ok) {
    const errors = run.lines.filter((l) => /^E: /.test(l) || /^ \S+ : (Pre)?Depends|^ +(Depends|Conflicts|Breaks)/.test(l));
    const named = new Set<string>();
    for (const l of run.lines) {
      const m = /Unable to locate package (\S+)/.exec(l) ?? /Package '([^']+)' has no installation candidate/.exec(l) ?? /^ (\S+) : (?:Pre)?Depends/.exec(l) ?? /^E: Package '([^']+)'/.exec(l);
      if (m) named.add(m[1]!);
    }
    const subject = named.size ? `package${named.size > 1 ? 's' : ''} ${[...named].join(', ')}` : what;
    throw badInput(`step "${ctx.step.id}": apt cannot install ${subject}:\n${(errors.length ? errors : run.lines.slice(-15)).join('\n')}`);
  }
  const installs = parseSimulation(run.lines);
  if (installs.length === 0) throw new Error(`apt-get --simulate listed nothing to install for ${what}`);
  return installs;
}

/** The metapackage of a kernel flavour: linux-image-<debArch> (Debian's default) or linux-image-<flavour>-<debArch>. */
function kernelPackage(flavour: string, debArch: string): string {
  return DEFAULT_FLAVOURS.has(flavour) ? `linux-image-${debArch}` : `linux-image-${flavour}-${debArch}`;
}

/** A flavour the indexes lack is the recipe's error, told with the flavours there are. */
function checkKernel(stepId: string, flavour: string, pkg: string, debArch: string, index: Map<string, IndexEntry>): void {
  if ([...index.keys()].some((k) => k.startsWith(`${pkg}\0`))) return;
  const available = kernelFlavours(index, debArch);
  throw badInput(`step "${stepId}": kernel flavour "${flavour}" has no package ${pkg} for ${debArch}; flavours there: default${available.length ? `, ${available.join(', ')}` : ''}`);
}

/** The kernel release (uname -r) the flavour's metapackage pulled in: linux-image-<release>. */
function kernelRelease(stepId: string, meta: string, debArch: string, packages: readonly LockedPackage[]): string {
  const suffix = meta === `linux-image-${debArch}` ? `-${debArch}` : meta.slice('linux-image'.length);
  const images = packages.filter((p) => /^linux-image-\d/.test(p.name) && p.name.endsWith(suffix) && !p.name.endsWith('-dbg'));
  if (images.length !== 1) throw badInput(`step "${stepId}": ${meta} pulls in ${images.length} kernel images (${images.map((p) => p.name).join(', ')}); expected one`);
  return images[0]!.name.slice('linux-image-'.length);
}

/** A repository's signing key: a recipe file (recipe-inputs.ts fences it to the step's recipeDir). */
async function withKeyPath(stepId: string, i: number, repo: Repo, recipeDir: string | undefined, config: Config): Promise<Repo & { keyPath?: string }> {
  if (!repo.key) return repo;
  return { ...repo, keyPath: await recipeInput(stepId, `repos[${i}].key`, repo.key, recipeDir, config) };
}
