// The files target: one version directory per build and arch, written into a staging
// directory on the same filesystem and made visible by one rename; `latest` moves by an
// atomic symlink swap only after that. A reader never sees half a version: it sees none of it
// or all of it, SHA256SUMS and signatures included.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { selectForRemoval, type PublishedVersion } from '../../publish/retention';
import { formatSums, type SumLine } from '../../publish/sums';
import { confineLexically, ConfinementError, expandTemplate, versionSegmentIndex, type Placeholder } from '../../publish/template';
import { safeSegment } from '../step-log';
import {
  copyHashed, exists, fsyncPath, listFiles, mkdirConfined, readlinkOrUndefined, reapStaging, sha256OfFile, stagingName,
  swapSymlink, writeAtomic, writeFileSynced,
} from './fs-util';
import type { Signer } from './signing';

export const BUILD_JSON = 'build.json';
export const SUMS = 'SHA256SUMS';
/** Publishing's own bookkeeping below each root; dot-named so listings of versions skip it. */
export const META_DIR = '.sborka';

export class VersionConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionConflictError';
  }
}

/** One published file: where it comes from and what its digest must be. */
export interface PublishFile {
  /** Path inside the version directory. */
  name: string;
  artifact: string;
  format: string;
  sha256: string;
  size: number;
  /** Writes the file at `dest` (copy or hard link) and returns what was written. */
  place(dest: string): Promise<{ sha256: string; size: number }>;
}

export interface PublishedArtifact {
  name: string;
  artifact: string;
  format: string;
  sha256: string;
  size: number;
}

export interface VersionRequest {
  root: string;
  /** Version directory relative to the root, already confined. */
  rel: string;
  /** Index in rel's segments of the versioning segment ({date}); -1 when the path has none. */
  versionIndex: number;
  files: PublishFile[];
  /** build.json without `files`, which is filled in here. */
  buildJson: Record<string, unknown>;
  signer?: Signer;
  signatureComment: string;
  /** Nightlies kept per product and arch; undefined: no retention here (release channel). */
  keep?: number;
  /** Recorded under <root>/.sborka/builds for `sborka promote`. */
  record?: { buildId: string; variant: string; extra?: Record<string, unknown> };
  signal?: AbortSignal;
  progress?(line: string): void;
  /** After each file lands in staging; tests inject crashes here. */
  afterFile?(name: string): Promise<void> | void;
}

export interface VersionResult {
  /** Absolute version directory. */
  dir: string;
  status: 'published' | 'unchanged';
  files: PublishedArtifact[];
  latest?: string;
  removed: string[];
}

/** A version's directory from a template, confined to the root. */
export function versionPath(template: string, root: string, values: Partial<Record<Placeholder, string>>): { rel: string; versionIndex: number } {
  const expanded = expandTemplate(template, values);
  const rel = confineLexically(root, expanded);
  return { rel, versionIndex: versionSegmentIndex(template, root) };
}

export async function publishVersion(req: VersionRequest): Promise<VersionResult> {
  const realRoot = await fs.realpath(req.root).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`target root ${req.root}: ${err.code ?? err.message}`);
  });
  const wanted = req.files.map(({ name, artifact, format, sha256, size }) => ({ name, artifact, format, sha256, size }));
  checkNames(wanted);
  const parent = await mkdirConfined(realRoot, path.dirname(req.rel));
  const final = path.join(parent, path.basename(req.rel));

  const existing = await readExisting(final, realRoot);
  if (existing) return finish('unchanged', compareOrRefuse(existing, wanted, final));

  const stagingRoot = await stagingRootFor(realRoot, parent);
  await reapStaging(stagingRoot);
  const staging = path.join(stagingRoot, stagingName());
  const stage = path.join(staging, 'version');
  await fs.mkdir(stage, { recursive: true });
  try {
    for (const f of req.files) {
      if (req.signal?.aborted) throw req.signal.reason;
      const dest = path.join(stage, f.name);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      req.progress?.(`copying ${f.name}`);
      const got = await f.place(dest);
      if (got.sha256 !== f.sha256 || got.size !== f.size) {
        // The store is the source of truth: a file that changed there must not be signed off.
        throw new Error(`${f.name}: copied ${got.size} bytes with sha256 ${got.sha256}, the store says ${f.size} bytes, ${f.sha256}`);
      }
      await req.afterFile?.(f.name);
    }
    const buildJson = { ...req.buildJson, files: wanted };
    await writeFileSynced(path.join(stage, BUILD_JSON), `${JSON.stringify(buildJson, null, 2)}\n`);
    await req.afterFile?.(BUILD_JSON);
    const sums: SumLine[] = [];
    for (const name of await listFiles(stage)) sums.push({ name, sha256: await sha256OfFile(path.join(stage, name)) });
    await writeFileSynced(path.join(stage, SUMS), formatSums(sums));
    await req.afterFile?.(SUMS);
    if (req.signer) {
      req.progress?.('signing SHA256SUMS');
      await req.signer.sign(path.join(stage, SUMS), req.signatureComment);
      await req.afterFile?.('signatures');
    }
    await fsyncTree(stage);
    if (req.signal?.aborted) throw req.signal.reason;
    try {
      await fs.rename(stage, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another publisher made this version meanwhile: same content is fine, other content is refused.
      const other = await readExisting(final, realRoot);
      if (!other) throw err;
      return finish('unchanged', compareOrRefuse(other, wanted, final));
    }
    await fsyncPath(parent);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return finish('published', wanted);

  async function finish(status: VersionResult['status'], files: PublishedArtifact[]): Promise<VersionResult> {
    if (req.record) await recordBuild(realRoot, req.record.buildId, req.record.variant, { rel: req.rel, versionIndex: req.versionIndex, ...req.record.extra });
    const result: VersionResult = { dir: final, status, files, removed: [] };
    if (req.versionIndex < 0) return result;
    const segments = req.rel.split('/');
    const versionsDir = path.join(realRoot, ...segments.slice(0, req.versionIndex));
    const name = segments[req.versionIndex]!;
    result.latest = await moveLatest(versionsDir, name);
    if (req.keep !== undefined) result.removed = await applyRetention(realRoot, versionsDir, segments.slice(req.versionIndex + 1).join('/'), req.keep, result.latest);
    return result;
  }
}

function checkNames(files: ReadonlyArray<{ name: string }>): void {
  const seen = new Set<string>();
  for (const { name } of files) {
    if (name.startsWith('/') || name.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new ConfinementError(`published file name ${JSON.stringify(name)} is not a plain relative path`);
    if (name === BUILD_JSON || name === SUMS || name.startsWith(`${SUMS}.`)) throw new Error(`an artifact may not be named ${name}: publishing writes it`);
    if (seen.has(name)) throw new Error(`two artifacts would be published as ${name}`);
    seen.add(name);
  }
}

async function readExisting(final: string, realRoot: string): Promise<{ files: PublishedArtifact[] } | undefined> {
  let st;
  try {
    st = await fs.lstat(final);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (st.isSymbolicLink()) throw new ConfinementError(`${final} is a symlink; a version directory must be a real directory under ${realRoot}`);
  if (!st.isDirectory()) throw new VersionConflictError(`${final} exists and is not a version directory`);
  let text: string;
  try {
    text = await fs.readFile(path.join(final, BUILD_JSON), 'utf8');
  } catch {
    throw new VersionConflictError(`${final} exists but has no ${BUILD_JSON}: it was not published by sborka; refusing to touch it`);
  }
  const parsed = JSON.parse(text) as { files?: PublishedArtifact[] };
  return { files: parsed.files ?? [] };
}

function compareOrRefuse(existing: { files: PublishedArtifact[] }, wanted: PublishedArtifact[], final: string): PublishedArtifact[] {
  const have = new Map(existing.files.map((f) => [f.name, f.sha256]));
  const differences: string[] = [];
  for (const f of wanted) {
    const h = have.get(f.name);
    if (h === undefined) differences.push(`${f.name} is not in it`);
    else if (h !== f.sha256) differences.push(`${f.name} has sha256 ${h.slice(0, 12)}…, this build's is ${f.sha256.slice(0, 12)}…`);
  }
  for (const name of have.keys()) if (!wanted.some((f) => f.name === name)) differences.push(`it holds ${name}, which this build does not publish`);
  if (differences.length > 0) {
    throw new VersionConflictError(`version ${final} is already published with other content (${differences.join('; ')}); a published version never changes: give the build a new version ({build} in the path or a new recipe version)`);
  }
  return existing.files;
}

/** Staging must share the version's filesystem, or the final rename would not be atomic. */
async function stagingRootFor(realRoot: string, parent: string): Promise<string> {
  const preferred = path.join(realRoot, META_DIR, 'staging');
  await fs.mkdir(preferred, { recursive: true });
  const [a, b] = await Promise.all([fs.stat(preferred), fs.stat(parent)]);
  if (a.dev === b.dev) return preferred;
  const beside = path.join(parent, `${META_DIR}-staging`);
  await fs.mkdir(beside, { recursive: true });
  return beside;
}

async function moveLatest(versionsDir: string, name: string): Promise<string> {
  const link = path.join(versionsDir, 'latest');
  const current = await readlinkOrUndefined(link);
  // Never backwards: a retried publish of an older version must not hide a newer one.
  if (current !== undefined && current > name && (await exists(path.join(versionsDir, current)))) return current;
  if (current !== name) await swapSymlink(link, name);
  return name;
}

async function applyRetention(realRoot: string, versionsDir: string, remainder: string, keep: number, latest: string | undefined): Promise<string[]> {
  const versions: PublishedVersion[] = [];
  for (const entry of await fs.readdir(versionsDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = path.join(versionsDir, entry.name, remainder);
    try {
      const info = JSON.parse(await fs.readFile(path.join(dir, BUILD_JSON), 'utf8')) as { buildId?: string; publishedAt?: string };
      versions.push({ name: entry.name, buildId: info.buildId ?? '', publishedAt: info.publishedAt ?? '' });
    } catch {
      // Not a version of this product and arch.
    }
  }
  const promoted = await promotedBuildIds(realRoot);
  const removed: string[] = [];
  const trash = path.join(realRoot, META_DIR, 'trash');
  await fs.mkdir(trash, { recursive: true });
  for (const v of selectForRemoval(versions, keep, { promotedBuildIds: promoted, ...(latest ? { latest } : {}) })) {
    const dir = path.join(versionsDir, v.name, remainder);
    // Out of sight by one rename first, so nobody lists a half-deleted version.
    const gone = path.join(trash, stagingName());
    await fs.rename(dir, gone);
    await fs.rm(gone, { recursive: true, force: true });
    for (let d = path.dirname(dir); d !== versionsDir && d.startsWith(versionsDir); d = path.dirname(d)) {
      try {
        await fs.rmdir(d);
      } catch {
        break; // another arch still lives there
      }
    }
    removed.push(path.relative(realRoot, dir));
  }
  return removed;
}

export async function promotedBuildIds(realRoot: string): Promise<Set<string>> {
  const dir = path.join(realRoot, META_DIR, 'promoted');
  const ids = new Set<string>();
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    try {
      const rec = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as { buildId?: string };
      if (rec.buildId) ids.add(rec.buildId);
    } catch {
      // a record being written; the next run sees it
    }
  }
  return ids;
}

export interface BuildRecord {
  buildId: string;
  variant: string;
  rel: string;
  versionIndex: number;
  [extra: string]: unknown;
}

async function recordBuild(realRoot: string, buildId: string, variant: string, data: Record<string, unknown>): Promise<void> {
  const dir = path.join(realRoot, META_DIR, 'builds', safeSegment(buildId));
  await fs.mkdir(dir, { recursive: true });
  await writeAtomic(path.join(dir, `${safeSegment(variant)}.json`), `${JSON.stringify({ buildId, variant, ...data }, null, 2)}\n`);
}

export async function readBuildRecords(realRoot: string, buildId: string): Promise<BuildRecord[]> {
  const dir = path.join(realRoot, META_DIR, 'builds', safeSegment(buildId));
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: BuildRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) out.push(JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as BuildRecord);
  return out;
}

async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await fsyncTree(path.join(dir, entry.name));
  }
  await fs.chmod(dir, 0o755);
  await fsyncPath(dir);
}

/** A PublishFile copied from a file in the store. */
export function copiedFile(spec: Omit<PublishFile, 'place'>, source: string): PublishFile {
  return { ...spec, place: (dest) => copyHashed(source, dest) };
}
