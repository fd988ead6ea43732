// `sborka diff` and GET /api/builds/:id/changes: reads two builds' sides (their plans from
// Temporal, their locks, license reports and outputs from the store) and compares them with
// publish/changes.ts. Changelogs come from the .debs in the deb cache (changelog.Debian.gz),
// on the alt toolchain from the RPM files beside the lock (activities/alt/changelog.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { altChangelogs, altRpmDir } from '../activities/alt/changelog';
import { evr, Lock as AltLock } from '../activities/alt/rpm-list';
import { Lock, LOCK_FILE } from '../activities/debian/lock';
import { MANIFEST_FILE } from '../activities/store-verify';
import { debCacheChangelogs } from '../activities/publish/changelogs';
import { loadRecipeSources } from '../activities/recipe-record';
import { compareBuilds, reportLicenses, type Changes, type ChangeSide } from '../publish/changes';
import { canonicalJson, sha256Hex } from '../plan/cache-key';
import type { BuildPlan } from '../plan/plan';
import { buildResult, buildView, listBuilds, planOfBuild } from './builds';
import { readStepFile, storeOf } from './step-file';

const LICENSE_REPORT = 'license-report.json';
/** Step kinds whose outcome is a test result: `test` (boot, run, reproducible) and any other *test* kind. */
const TEST_KINDS = /test/;

/** Bytes of a file, or of every file below a directory. */
function sizeOf(p: string): number | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return undefined;
  }
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, e) => n + (sizeOf(path.join(p, e)) ?? 0), 0);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function readJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** One variant of a build (the one of `arch`), as compareBuilds takes it. */
export async function readSide(client: Client, buildId: string, arch: string, storeDir?: string, config?: Config): Promise<ChangeSide> {
  const plan: BuildPlan = await planOfBuild(client, buildId);
  const variant = plan.variants.find((v) => v.arch === arch);
  if (!variant) throw new Error(`build ${buildId} has no variant for ${arch} (it has ${plan.variants.map((v) => v.arch).join(', ')})`);
  const view = await buildView(client, buildId);
  const status = view.variants.find((v) => v.variantId === variant.id);
  const side: ChangeSide = {
    buildId,
    product: plan.product,
    arch,
    state: view.product.state,
    ...(plan.recipeDigest ? { recipeDigest: plan.recipeDigest } : {}),
    steps: variant.steps.map((s) => ({ name: s.id, kind: s.kind, params: sha256Hex(canonicalJson(s.params)) })),
  };
  // The recipe's text, in the build owner's scope (a refused or missing record: no text diff).
  const recorded = storeDir && plan.recipeDigest ? loadRecipeSources(storeDir, plan.owner, plan.recipeDigest) : undefined;
  if (recorded && 'sources' in recorded) side.recipeFiles = recorded.sources.files;
  // The license report from the step's store entry (pulled and checked on this host), never a worker's path.
  const store = config ? storeOf({ config }) : storeDir ? storeOf({ storeDir }) : undefined;
  const storedJson = async (key: string | undefined) => {
    const bytes = store && key ? await readStepFile(store, { key, owner: plan.owner }, LICENSE_REPORT).catch(() => undefined) : undefined;
    return bytes ? readJsonText(bytes.toString('utf8')) : undefined;
  };
  const tests: NonNullable<ChangeSide['tests']> = [];
  for (const st of status?.steps ?? []) {
    if (TEST_KINDS.test(st.kind)) {
      const values = (readJson(path.join(path.dirname(st.outputDir ?? '/nonexistent'), MANIFEST_FILE)) as { outputs?: { values?: Record<string, unknown> } } | undefined)?.outputs?.values;
      // The boot and run tests record how long the guest took (activities/debian/boot.ts).
      const boot = values?.elapsedMs;
      tests.push({ name: st.id, outcome: st.state, ...(typeof boot === 'number' ? { bootMs: boot } : {}) });
    }
    if (!st.outputDir) continue;
    const lockJson = readJson(path.join(st.outputDir, LOCK_FILE));
    const lock = Lock.safeParse(lockJson);
    if (lock.success) side.packages = lock.data.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch }));
    // The alt toolchain's lock (the rpm list of its root): versions in RPM's order.
    const alt = AltLock.safeParse(lockJson);
    if (alt.success) {
      Object.assign(side, { versions: 'rpm', packages: alt.data.packages.map((p) => ({ name: p.name, version: evr(p), arch: p.arch })) });
      side.rpmDirs = [...(side.rpmDirs ?? []), altRpmDir(st.outputDir, alt.data.arch)];
    }
    if (st.kind === 'verify-licenses') Object.assign(side, reportLicenses(await storedJson(st.key)));
  }
  side.tests = tests;
  // The outputs the variant names as its artifacts, from its result (a finished build).
  const result = await buildResult(client, buildId).catch(() => undefined);
  const artifacts = result?.variants.find((v) => v.variantId === variant.id)?.result?.artifacts ?? [];
  side.outputs = artifacts.flatMap((a) => {
    const size = a.file ? sizeOf(a.file) : undefined;
    return size === undefined ? [] : [{ name: a.name, size }];
  });
  return side;
}

/** The last succeeded build of the product that started before `buildId`. */
export async function lastGoodBefore(client: Client, buildId: string, product: string): Promise<string | undefined> {
  if (/['"\\]/.test(product)) throw new Error(`refusing to quote product ${JSON.stringify(product)}`);
  const builds = await listBuilds(client, `SborkaProduct = '${product}'`, 200);
  const me = builds.find((b) => b.buildId === buildId);
  return builds.find((b) => b.buildId !== buildId && b.state === 'succeeded' && (!me || b.startTime < me.startTime))?.buildId;
}

/** Per arch both builds have: what changed from `from` (default: the last good build before) to `to`. */
export async function diffBuilds(client: Client, to: string, from: string | undefined, opts: { debDir: string; storeDir?: string; config?: Config; arch?: string }): Promise<Changes[]> {
  const toPlan = await planOfBuild(client, to);
  const base = from ?? (await lastGoodBefore(client, to, toPlan.product));
  if (!base) throw new Error(`build ${to} has no succeeded build of ${toPlan.product} before it to compare with: name one`);
  const fromPlan = await planOfBuild(client, base);
  const arches = [...new Set(toPlan.variants.map((v) => v.arch))].filter((a) => fromPlan.variants.some((v) => v.arch === a) && (!opts.arch || a === opts.arch));
  if (arches.length === 0) throw new Error(`builds ${base} and ${to} share no arch${opts.arch ? ` ${opts.arch}` : ''}`);
  const out: Changes[] = [];
  for (const arch of arches) {
    const a = await readSide(client, base, arch, opts.storeDir, opts.config);
    const b = await readSide(client, to, arch, opts.storeDir, opts.config);
    out.push(compareBuilds(a, b, b.versions === 'rpm' ? altChangelogs([a, b]) : debCacheChangelogs(opts.debDir, [a, b])));
  }
  return out;
}
