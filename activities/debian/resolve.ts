// resolve (debian): the exact package set of a recipe against the suite's real, signed
// indexes, by apt's own solver in a private apt tree (update + simulated install from an
// empty root). Two simulations: the base set (essential, Priority:required, apt) and the
// base plus the recipe's packages and kernel; their difference is the product layer.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { debianArch } from '../../dsl/arches';
import type { Repo } from '../../dsl/model';
import { badInput } from '../failures';
import { defineKind, type KindContext } from '../kinds/registry';
import { indexKey, kernelFlavours, makeAptRoot, newestReleaseDate, parseSimulation, readPackageIndexes, suiteSources, type IndexEntry, type SimulatedInstall } from './apt';
import { LOCK_FILE, lockJson, type AptSource, type Lock, type LockedPackage } from './lock';
import { appendLogLines } from '../step-log';
import { runOrThrow, runTool } from './run-tool';

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
  const repos = await Promise.all(params.repos.map((r) => withKeyPath(stepId, r, ctx.config.projectRoot)));
  let sources = suiteSources(params.branch, repos);
  let apt = await makeAptRoot(path.join(ctx.workDir, 'apt'), debArch, sources);
  let env = { APT_CONFIG: apt.config };

  ctx.progress({ phase: 'apt-get update' });
  const update = await runTool(ctx, ['apt-get', 'update'], { env, phase: 'apt-get update' });
  if (!update.ok) {
    // A -updates or -security suite whose index does not match its Release (a mirror mid-sync,
    // as trixie's riscv64 ones on ours): the suite itself still resolves, without them, said loudly.
    const broken = brokenUpdateSources(update.lines, sources, params.branch);
    if (broken.length === 0) throw update.failure;
    const names = broken.map((b) => `${b.uri} ${b.suite}`).join(', ');
    await appendLogLines(ctx.logPath, [`--- sborka: WARNING: resolving without ${names}: the mirror's index does not match its Release file`]);
    ctx.logger.warn({ step: stepId, dropped: names }, 'resolve: update suites dropped');
    sources = sources.filter((s) => !broken.includes(s));
    apt = await makeAptRoot(path.join(ctx.workDir, 'apt-retry'), debArch, sources);
    env = { APT_CONFIG: apt.config };
    await runOrThrow(ctx, ['apt-get', 'update'], { env, phase: 'apt-get update' });
  }
  const lists = await fs.readdir(apt.listsDir);
  const mainIndex = `_dists_${params.branch}_main_binary-${debArch}_Packages`;
  if (!lists.some((f) => f.endsWith(mainIndex))) {
    throw badInput(`step "${stepId}": suite ${params.branch} has no ${debArch} packages at ${sources[0]!.uri} (got: ${lists.filter((f) => f.endsWith('_Packages')).join(', ') || 'no Packages index'})`);
  }
  const index = await readPackageIndexes(apt.listsDir);
  const sourceDateEpoch = await newestReleaseDate(apt.listsDir);
  if (sourceDateEpoch === undefined) throw badInput(`step "${stepId}": the Release files of ${params.branch} carry no Date`);

  const kernel = params.kernel ? kernelPackage(stepId, params.kernel, debArch, index) : undefined;
  const removals = params.exclude.map((e) => `${e}-`);
  ctx.progress({ phase: 'resolving the base set' });
  const base = await simulate(ctx, env, [...BASE_SET, ...removals], 'the base system (essential, required, apt)');
  ctx.progress({ phase: 'resolving the packages' });
  const requested = [...params.packages, ...(kernel ? [kernel] : [])];
  const full = await simulate(ctx, env, [...BASE_SET, ...requested, ...removals], `the packages ${requested.join(', ')}`);

  const baseKeys = new Set(base.map((p) => indexKey(p.name, p.version, p.arch)));
  const packages: LockedPackage[] = full.map((p) => {
    const entry = index.get(indexKey(p.name, p.version, p.arch));
    if (!entry) throw new Error(`apt chose ${p.name} ${p.version} ${p.arch}, which no downloaded index lists`);
    return { name: p.name, version: p.version, arch: p.arch, source: entry.source, sourceVersion: entry.sourceVersion, sha256: entry.sha256, layer: baseKeys.has(indexKey(p.name, p.version, p.arch)) ? ('base' as const) : ('product' as const) };
  }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const excluded = packages.filter((p) => params.exclude.includes(p.name));
  if (excluded.length) throw badInput(`step "${stepId}": excluded packages would still be installed: ${excluded.map((p) => p.name).join(', ')}`);

  const lock: Lock = {
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
  await fs.writeFile(path.join(ctx.outputsDir, LOCK_FILE), lockJson(lock));
  return {
    values: {
      suite: lock.suite, arch: lock.arch, debArch, sourceDateEpoch, packages: packages.length,
      basePackages: packages.filter((p) => p.layer === 'base').length,
      ...(lock.kernel ? { kernelRelease: lock.kernel.release } : {}),
    },
  };
});

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

function kernelPackage(stepId: string, flavour: string, debArch: string, index: Map<string, IndexEntry>): string {
  const names = new Set([...index.keys()].map((k) => k.slice(0, k.indexOf('\0'))));
  const candidates = DEFAULT_FLAVOURS.has(flavour) ? [`linux-image-${debArch}`] : [`linux-image-${flavour}-${debArch}`];
  const found = candidates.find((c) => names.has(c));
  if (found) return found;
  const available = kernelFlavours(index, debArch);
  throw badInput(`step "${stepId}": kernel flavour "${flavour}" has no package ${candidates.join(' or ')} for ${debArch}; flavours there: default${available.length ? `, ${available.join(', ')}` : ''}`);
}

/** The kernel release (uname -r) the flavour's metapackage pulled in: linux-image-<release>. */
function kernelRelease(stepId: string, meta: string, debArch: string, packages: readonly LockedPackage[]): string {
  const suffix = meta === `linux-image-${debArch}` ? `-${debArch}` : meta.slice('linux-image'.length);
  const images = packages.filter((p) => /^linux-image-\d/.test(p.name) && p.name.endsWith(suffix) && !p.name.endsWith('-dbg'));
  if (images.length !== 1) throw badInput(`step "${stepId}": ${meta} pulls in ${images.length} kernel images (${images.map((p) => p.name).join(', ')}); expected one`);
  return images[0]!.name.slice('linux-image-'.length);
}

/** A repository's signing key: absolute, or relative to the project (where load-plan puts recipe paths). */
async function withKeyPath(stepId: string, repo: Repo, projectRoot: string): Promise<Repo & { keyPath?: string }> {
  if (!repo.key) return repo;
  const keyPath = path.resolve(projectRoot, repo.key);
  try {
    await fs.access(keyPath);
  } catch {
    throw badInput(`step "${stepId}": repository ${repo.name}: signing key ${repo.key} not found (${keyPath})`);
  }
  return { ...repo, keyPath };
}
