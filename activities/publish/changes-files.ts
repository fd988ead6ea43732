// CHANGES.md and changes.json beside a nightly's images: what changed since the version
// published before it (the greatest version name below this one with the same product and
// arch below it). Computed from that version's build.json and lock and this build's before
// publishing; the same previous version gives the same files, so a repeated publish of the
// version stays "unchanged". The first version of a product and arch gets none.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { CHANGES_JSON, CHANGES_MD, changesMarkdown, compareBuilds, reportLicenses, SidePackage, type ChangeSide } from '../../publish/changes';
import { sha256OfFile } from './fs-util';
import { BUILD_JSON, copiedFile, type PublishFile } from './files-target';
import { debCacheChangelogs } from './changelogs';
import { altChangelogs, altRpmDir } from '../alt/changelog';
import { evr, Lock as AltLock } from '../alt/rpm-list';
import { loadRecipeSources } from '../recipe-record';
import { Owner } from '../../plan/schemas';

const PublishedBuild = z.object({
  buildId: z.string(),
  product: z.string(),
  arch: z.string(),
  recipeDigest: z.string().optional(),
  owner: Owner.optional(),
  lock: z.object({ file: z.string() }).optional(),
  license: z.object({ verdict: z.string().nullable().optional() }).optional(),
  files: z.array(z.object({ name: z.string(), size: z.number() })).optional(),
});
const CHANGE_FILES = new Set([CHANGES_JSON, CHANGES_MD]);
const LockPackages = z.object({ packages: z.array(SidePackage) });

export interface ChangesRequest {
  root: string;
  rel: string;
  versionIndex: number;
  buildJson: Record<string, unknown>;
  files: readonly PublishFile[];
  /** This build's lock file in the store, when it publishes one. */
  lockFile?: string;
  /** This build's license-report.json in the store, when it publishes one. */
  licenseReport?: string;
  debDir: string;
  workDir: string;
  /** The store whose recorded recipe texts (activities/recipe-record.ts) give the recipe's diff. */
  storeDir?: string;
}

/**
 * A published build's recipe files, absent when not recorded or refused. Both sides are read
 * in this build's owner's scope: the previous build.json does not choose whose records are read.
 */
function recipeFiles(storeDir: string | undefined, b: z.infer<typeof PublishedBuild>, owner: z.infer<typeof Owner> | undefined): Pick<ChangeSide, 'recipeFiles'> {
  if (!storeDir || !b.recipeDigest) return {};
  const got = loadRecipeSources(storeDir, owner, b.recipeDigest);
  return 'sources' in got ? { recipeFiles: got.sources.files } : {};
}

async function readReport(file: string | undefined): Promise<Pick<ChangeSide, 'licenses' | 'licenseVerdict'>> {
  if (!file) return {};
  try {
    return reportLicenses(JSON.parse(await fs.readFile(file, 'utf8')));
  } catch {
    return {};
  }
}

async function readPackages(file: string | undefined): Promise<Pick<ChangeSide, 'packages' | 'versions' | 'rpmDirs'>> {
  if (!file) return {};
  try {
    const json = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
    // The alt toolchain's lock: [epoch:]version-release in RPM's order, its built RPMs beside it.
    const alt = AltLock.safeParse(json);
    if (alt.success) return { versions: 'rpm', packages: alt.data.packages.map((p) => ({ name: p.name, version: evr(p), arch: p.arch })), rpmDirs: [altRpmDir(path.dirname(file), alt.data.arch)] };
    const parsed = LockPackages.safeParse(json);
    return parsed.success ? { packages: parsed.data.packages.map((p) => ({ name: p.name, version: p.version, ...(p.arch ? { arch: p.arch } : {}) })) } : {};
  } catch {
    return {};
  }
}

/** The previous version's directory (same remainder below it), or undefined. */
async function previousVersion(req: ChangesRequest): Promise<string | undefined> {
  if (req.versionIndex < 0) return undefined;
  const segments = req.rel.split('/');
  const versionsDir = path.join(req.root, ...segments.slice(0, req.versionIndex));
  const mine = segments[req.versionIndex]!;
  const remainder = segments.slice(req.versionIndex + 1);
  const names = (await fs.readdir(versionsDir, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name < mine)
    .map((e) => e.name)
    .sort()
    .reverse();
  for (const name of names) {
    const dir = path.join(versionsDir, name, ...remainder);
    if (await fs.access(path.join(dir, BUILD_JSON)).then(() => true, () => false)) return dir;
  }
  return undefined;
}

export async function changesFiles(req: ChangesRequest): Promise<PublishFile[]> {
  const prevDir = await previousVersion(req);
  if (!prevDir) return [];
  const prev = PublishedBuild.safeParse(JSON.parse(await fs.readFile(path.join(prevDir, BUILD_JSON), 'utf8')));
  const cur = PublishedBuild.safeParse(req.buildJson);
  if (!prev.success || !cur.success) return [];
  const from: ChangeSide = {
    buildId: prev.data.buildId,
    product: prev.data.product,
    arch: prev.data.arch,
    ...(prev.data.recipeDigest ? { recipeDigest: prev.data.recipeDigest } : {}),
    ...recipeFiles(req.storeDir, prev.data, cur.data.owner),
    ...(prev.data.license?.verdict ? { licenseVerdict: prev.data.license.verdict } : {}),
    ...(await readPackages(prev.data.lock ? path.join(prevDir, prev.data.lock.file) : undefined)),
    ...(await readReport(req.licenseReport ? path.join(prevDir, path.basename(req.licenseReport)) : undefined)),
    outputs: (prev.data.files ?? []).filter((f) => !CHANGE_FILES.has(f.name)).map((f) => ({ name: f.name, size: f.size })),
  };
  const to: ChangeSide = {
    buildId: cur.data.buildId,
    product: cur.data.product,
    arch: cur.data.arch,
    ...(cur.data.recipeDigest ? { recipeDigest: cur.data.recipeDigest } : {}),
    ...recipeFiles(req.storeDir, cur.data, cur.data.owner),
    ...(cur.data.license?.verdict ? { licenseVerdict: cur.data.license.verdict } : {}),
    ...(await readPackages(req.lockFile)),
    ...(await readReport(req.licenseReport)),
    outputs: req.files.filter((f) => !CHANGE_FILES.has(f.name)).map((f) => ({ name: f.name, size: f.size })),
  };
  // Another product or arch published under the same path: nothing to compare with.
  if (from.product !== to.product || from.arch !== to.arch) return [];
  const changes = compareBuilds(from, to, to.versions === 'rpm' ? altChangelogs([from, to]) : debCacheChangelogs(req.debDir, [from, to]));
  const dir = path.join(req.workDir, 'changes');
  await fs.mkdir(dir, { recursive: true });
  const out: PublishFile[] = [];
  for (const [name, text, format] of [[CHANGES_JSON, `${JSON.stringify(changes, null, 2)}\n`, 'json'], [CHANGES_MD, changesMarkdown(changes), 'markdown']] as const) {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    out.push(copiedFile({ name, artifact: 'changes', format, sha256: await sha256OfFile(file), size: Buffer.byteLength(text) }, file));
  }
  return out;
}
