// prepare-root (debian): the locked packages installed into a root tarball by mmdebstrap,
// in two cached layers. The base layer (essential + required + apt at the lock's versions)
// is an entry of the step store under its own key, so a product that adds one package
// installs only that package on top of the cached base. A foreign-arch root is unpacked
// only (its maintainer scripts cannot run here), and so is a partner's (isolation "vm"):
// configure installs it inside a VM. mmdebstrap builds each root on a tmpfs when one has
// room for it (root-scratch.ts: dpkg's fsyncs and the tree's removal cost nothing there).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { canonicalJson, sha256Hex } from '../../plan/cache-key';
import { badInput, stepFailed } from '../failures';
import type { StepParams } from '../../plan/step-params';
import { defineKind, type KindContext, type KindResult } from '../kinds/registry';
import { appendLogLines } from '../step-log';
import { StepStore, type StoreEntry } from '../store';
import { debFileName, pinned, readLockFromInputs, type Lock, type LockedPackage } from './lock';
import { snapshotLists } from './apt-state';
import { prefetchDebs } from './deb-prefetch';
import { rootRecord } from './root-record';
import { compareWithLock, debCacheDir, hostDebArch, installedPackages, keepDebs, linkOrCopy, mmdebstrapArgv, seedDebs } from './mmdebstrap';
import { estimateRootBytes, rootScratch, tmpfsDir, type RootScratch } from './root-scratch';
import { runTool, tail, type ToolRun } from './run-tool';

export const ROOTFS = 'rootfs.tar';
const BASE_TAR = 'base.tar';
/** Bump when the base layer's recipe (mmdebstrap options) changes: old base entries stop matching. */
const BASE_LAYER_VERSION = 2;

export const prepareRootKind = defineKind('prepare-root', (ctx, params) => prepareRoot(ctx, params, 'store'));

/**
 * The root of the lock at ROOTFS in ctx.outputsDir. The base layer comes from the store (or
 * is built into it) with `store`; with `fresh` it is built in the work directory and the
 * store is neither read nor written: the reproducible test's rebuild from the lock.
 */
export async function prepareRoot(ctx: KindContext, params: StepParams<'prepare-root'>, baseFrom: 'store' | 'fresh'): Promise<KindResult> {
  const lock = await readLockFromInputs(ctx.step.id, ctx.inputs);
  if (lock.suite !== params.branch || lock.arch !== params.arch) {
    throw badInput(`step "${ctx.step.id}": the lock is for ${lock.suite}/${lock.arch}, the step builds ${params.branch}/${params.arch}`);
  }
  const target = path.join(ctx.outputsDir, ROOTFS);
  const lists = await listsOf(ctx, lock);
  const common = { arch: lock.arch, debArch: lock.debArch, suite: lock.suite, sourceDateEpoch: lock.sourceDateEpoch, packages: lock.packages.length, ...(lock.kernel ? { kernelVersion: lock.kernel.release } : {}) };

  if (lock.debArch !== hostDebArch() || params.isolation === 'vm') {
    // Unpacked in one go: extracting is cheap, nothing of a foreign root can be installed here,
    // and a partner's packages' maintainer scripts must not run on the host kernel.
    await mmdebstrap(ctx, lock, { variant: 'extract', packages: lock.packages, wanted: lock.packages, target, keepDebs: true, lists, phase: 'unpacking' });
    return { values: { ...common, unpacked: true, record: rootRecord(ctx) } };
  }

  const base = lock.packages.filter((p) => p.layer === 'base');
  const product = lock.packages.filter((p) => p.layer === 'product');
  // While the base layer installs, the product layer's debs download (they need resolve's lists).
  const fetchProduct = lists && product.length ? () => prefetchDebs(ctx, lock, product, lists, debCacheDir(ctx.config)) : undefined;
  const { tar: baseTar, key: baseKey, cached: baseCached, sha256 } = baseFrom === 'store'
    ? await baseLayer(ctx, lock, base, lists, fetchProduct)
    : await freshBaseLayer(ctx, lock, base, lists);
  const values = { ...common, unpacked: false, baseKey, baseCached, productPackages: product.length, record: rootRecord(ctx) };
  if (product.length === 0) {
    // Nothing to split: the one layer is the root, linked with the digest the store has for it.
    await linkOrCopy(baseTar, target);
    return { values, ...(sha256 ? { digests: { [ROOTFS]: sha256 } } : {}) };
  }
  await mmdebstrap(ctx, lock, { variant: 'apt', packages: product, wanted: lock.packages, target, baseTar, lists, phase: 'installing the packages' });
  return { values };
}

/** The key of a base layer: what goes into it, nothing of the product. */
export function baseLayerKey(lock: Lock, toolchainVersion: string): string {
  const base = lock.packages.filter((p) => p.layer === 'base').map((p) => `${p.name}=${p.version}:${p.arch}:${p.sha256}`);
  return sha256Hex(canonicalJson({
    layer: 'debian-base-root', layerVersion: BASE_LAYER_VERSION, toolchainVersion,
    suite: lock.suite, debArch: lock.debArch, sources: lock.sources, sourceDateEpoch: lock.sourceDateEpoch, base,
  }));
}

interface BaseLayer {
  tar: string;
  key: string;
  cached: boolean;
  /** The tar's digest, when a store manifest has it. */
  sha256?: string;
}

const baseDigest = (entry: StoreEntry): string | undefined => entry.manifest.outputs.files.find((f) => f.path === BASE_TAR)?.sha256;

/**
 * The base layer from the store, or built and committed to it under its own key; `alongside`
 * runs while it builds (a failure of its own is not the layer's).
 */
async function baseLayer(
  ctx: KindContext, lock: Lock, base: readonly LockedPackage[], lists: string | undefined, alongside?: () => Promise<unknown>,
): Promise<BaseLayer> {
  const store = new StepStore(ctx.config.storeDir);
  const key = baseLayerKey(lock, ctx.toolchain.version);
  const hit = await store.lookup(key);
  if (hit) {
    await appendLogLines(ctx.logPath, [`--- sborka: base layer (${base.length} packages): cached, store key ${key}`]);
    return { tar: path.join(hit.outputsDir, BASE_TAR), key, cached: true, sha256: baseDigest(hit) };
  }
  await appendLogLines(ctx.logPath, [`--- sborka: base layer (${base.length} packages): building, store key ${key}`]);
  const staging = await store.createStaging();
  try {
    // Both settle before anything goes on: no process of the step is left running behind it.
    const [built, beside] = await Promise.allSettled([
      mmdebstrap(ctx, lock, { variant: 'custom', packages: base, wanted: base, target: path.join(staging.outputsDir, BASE_TAR), lists, phase: 'base layer' }),
      alongside?.(),
    ]);
    if (built.status === 'rejected') throw built.reason;
    if (beside.status === 'rejected') {
      if (ctx.signal.aborted) throw beside.reason;
      ctx.logger.warn({ err: String(beside.reason) }, 'prepare-root: fetching the next layer\'s debs failed');
    }
    const entry = await store.commit(staging, {
      key, kind: 'prepare-root-base',
      values: { suite: lock.suite, arch: lock.arch, debArch: lock.debArch, sourceDateEpoch: lock.sourceDateEpoch, packages: base.length },
    });
    return { tar: path.join(entry.outputsDir, BASE_TAR), key, cached: false, sha256: baseDigest(entry) };
  } catch (err) {
    await store.discard(staging);
    throw err;
  }
}

/** The base layer built in the work directory, away from the store. */
async function freshBaseLayer(ctx: KindContext, lock: Lock, base: readonly LockedPackage[], lists: string | undefined): Promise<BaseLayer> {
  const key = baseLayerKey(lock, ctx.toolchain.version);
  await appendLogLines(ctx.logPath, [`--- sborka: base layer (${base.length} packages): building afresh (the store's ${key} is not used)`]);
  const tar = path.join(ctx.workDir, BASE_TAR);
  await mmdebstrap(ctx, lock, { variant: 'custom', packages: base, wanted: base, target: tar, lists, phase: 'base layer' });
  return { tar, key, cached: false };
}

interface LayerRun {
  variant: 'custom' | 'apt' | 'extract';
  /** Installed by this run (pinned). */
  packages: readonly LockedPackage[];
  /** What the root must hold afterwards, exactly. */
  wanted: readonly LockedPackage[];
  target: string;
  baseTar?: string;
  keepDebs?: boolean;
  /** apt lists of the lock's sources (see listsOf); mmdebstrap updates its own without them. */
  lists?: string;
  phase: string;
}

/**
 * The lists resolve left in this host's apt tree of the lock's sources, copied into the work
 * directory, or undefined when no resolve of them ran here. Lists newer than the lock are
 * fine: the versions are pinned and the installed root is checked against the lock.
 */
async function listsOf(ctx: KindContext, lock: Lock): Promise<string | undefined> {
  const dir = path.join(ctx.workDir, 'apt-lists');
  const found = await snapshotLists(ctx.config, lock.debArch, lock.sources, ctx.signal, dir);
  await appendLogLines(ctx.logPath, [found ? `--- sborka: apt lists from this host's apt tree of the lock's sources (mmdebstrap skips its update)` : '--- sborka: no apt lists of the lock\'s sources on this host: mmdebstrap updates its own']);
  return found ? dir : undefined;
}

async function mmdebstrap(ctx: KindContext, lock: Lock, run: LayerRun): Promise<void> {
  const dir = await fs.mkdtemp(path.join(ctx.workDir, 'mmdebstrap-'));
  const seedDir = path.join(dir, 'seed');
  const debsOut = path.join(dir, 'debs');
  const statusOut = path.join(dir, 'state');
  await fs.mkdir(debsOut);
  await fs.mkdir(statusOut);
  const cacheDir = debCacheDir(ctx.config);
  // Everything of the lock may be needed: apt resolves a foreign root's layer from an empty status.
  const seeded = await seedDebs(cacheDir, run.variant === 'extract' ? lock.packages : run.packages, seedDir);
  await appendLogLines(ctx.logPath, [`--- sborka: ${run.phase}: ${run.packages.length} packages, ${seeded} from the cache ${cacheDir}`]);
  const argv = mmdebstrapArgv({
    variant: run.variant, include: run.packages.map(pinned), lock, target: run.target, seedDir, debsOut, statusOut,
    baseTar: run.baseTar !== undefined, keepDebs: run.keepDebs, listsDir: run.lists,
  });
  const estimate = run.lists && tmpfsDir() !== undefined ? await estimateRootBytes(run.lists, run.wanted) : undefined;
  let result = await runIn(ctx, lock, run, argv, await rootScratch(ctx.workDir, estimate));
  if (!result.ok && result.onTmpfs && result.lines.some((l) => /No space left on device/.test(l))) {
    // Another build took the room meanwhile: the same run on disk (the bytes do not change).
    await appendLogLines(ctx.logPath, ['--- sborka: the tmpfs filled up: building the root again on disk']);
    result = await runIn(ctx, lock, run, argv, await rootScratch(ctx.workDir, undefined));
  }
  await keepDebs(debsOut, cacheDir);
  if (!result.ok) {
    const apt = result.lines.filter((l) => /^E: |Version '.*' for '.*' was not found/.test(l));
    if (apt.some((l) => /was not found|Unable to locate package|has no installation candidate/.test(l))) {
      // The mirror no longer has a locked version: only a new lock (resolve) helps.
      throw badInput(`step "${ctx.step.id}": the mirror no longer offers the lock's versions; resolve again:\n${apt.join('\n')}`);
    }
    throw stepFailed(`step "${ctx.step.id}": mmdebstrap failed (${run.phase}):\n${tail(result.lines, 25)}`);
  }
  const problems = run.variant === 'extract'
    ? await missingDebs(debsOut, run.wanted)
    : compareWithLock(await installedPackages(path.join(statusOut, 'status')), run.wanted);
  if (problems.length) {
    throw badInput(`step "${ctx.step.id}": the root does not match the lock (${problems.length} differences); resolve again:\n${problems.slice(0, 20).join('\n')}`);
  }
  await fs.rm(dir, { recursive: true, force: true });
}

/** One mmdebstrap run with its root in `scratch` (released after, whatever the outcome). */
async function runIn(ctx: KindContext, lock: Lock, run: LayerRun, argv: string[], scratch: RootScratch): Promise<ToolRun & { onTmpfs: boolean }> {
  await appendLogLines(ctx.logPath, [`--- sborka: ${run.phase}: the root is built in ${scratch.dir}${scratch.onTmpfs ? ' (tmpfs)' : ''}`]);
  try {
    const result = await runTool(ctx, argv, {
      phase: run.phase,
      // INITRD=No: the kernel's postinst makes no initramfs here; configure makes the one the
      // image boots, after the overlays and settings that go into it (one run instead of two).
      // TMPDIR: the root is made inside the scratch directory (mkdtemp's 0700), where _apt
      // cannot reach it whatever the modes above it (why: the partial/ hook of mmdebstrapArgv).
      env: { SOURCE_DATE_EPOCH: String(lock.sourceDateEpoch), INITRD: 'No', TMPDIR: scratch.dir, ...(run.baseTar ? { SBORKA_BASE_TAR: run.baseTar } : {}) },
    });
    return { ...result, onTmpfs: scratch.onTmpfs };
  } finally {
    await scratch.release();
  }
}

/** For an unpacked root: every locked deb must be among those apt fetched (dpkg has recorded nothing). */
async function missingDebs(debsDir: string, wanted: readonly LockedPackage[]): Promise<string[]> {
  const have = new Set(await fs.readdir(debsDir));
  return wanted.filter((p) => !have.has(debFileName(p))).map((p) => `${p.name} ${p.version} ${p.arch}: not fetched`);
}
