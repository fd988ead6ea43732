// Finds the image's root filesystem among the step's inputs and unpacks only what license
// extraction reads (the package database and /usr/share/doc) into a scratch directory.
// Sources, best first: the configured root (rootfs.tar of `configure`), a tar image, a
// squashfs image, a raw disk image (ext2/3/4, read with debugfs, no mounting needed).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { badInput } from '../failures';
import type { KindContext } from '../kinds/registry';
import type { StoreEntry } from '../store';

export type RootFlavour = 'debian' | 'rpm';

/** What extraction reads, per package database. */
const WANTED: Record<RootFlavour, { marker: string; paths: string[] }> = {
  debian: { marker: 'var/lib/dpkg/status', paths: ['var/lib/dpkg/status', 'usr/share/doc'] },
  rpm: { marker: 'var/lib/rpm', paths: ['var/lib/rpm'] },
};

export interface RootCandidate {
  stepId: string;
  file: string;
  kind: 'tar' | 'squashfs' | 'disk';
}

const TAR = /\.(?:tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst|tar\.bz2)$/;

/** Every input file extraction could read, best first (a configured root before an image). */
export function rootCandidates(inputs: Record<string, StoreEntry>): RootCandidate[] {
  const found: Array<RootCandidate & { rank: number }> = [];
  for (const stepId of Object.keys(inputs).sort()) {
    const entry = inputs[stepId]!;
    for (const f of entry.manifest.outputs.files) {
      const file = path.join(entry.outputsDir, f.path);
      const base = path.basename(f.path);
      if (base === 'rootfs.tar') found.push({ stepId, file, kind: 'tar', rank: 0 });
      else if (TAR.test(base)) found.push({ stepId, file, kind: 'tar', rank: 1 });
      else if (/\.(?:squashfs|sqfs)$/.test(base)) found.push({ stepId, file, kind: 'squashfs', rank: 2 });
      else if (/\.(?:img|raw)$/.test(base)) found.push({ stepId, file, kind: 'disk', rank: 3 });
    }
  }
  return found.sort((a, b) => a.rank - b.rank).map(({ rank: _rank, ...c }) => c);
}

export interface UnpackedRoot {
  dir: string;
  source: RootCandidate;
}

/** Unpacks the database and docs of the best candidate that has them into workDir/root. */
export async function unpackRoot(ctx: KindContext, flavour: RootFlavour): Promise<UnpackedRoot> {
  const candidates = rootCandidates(ctx.inputs);
  if (candidates.length === 0) {
    const files = Object.entries(ctx.inputs).flatMap(([id, e]) => e.manifest.outputs.files.map((f) => `${id}/${f.path}`));
    throw badInput(`step "${ctx.step.id}": none of its inputs holds a root it can read (rootfs.tar, a tar, squashfs or raw disk image); inputs: ${files.join(', ') || 'none'}`);
  }
  const tried: string[] = [];
  for (const [i, c] of candidates.entries()) {
    const dir = path.join(ctx.workDir, `root-${i}`);
    await fs.mkdir(dir, { recursive: true });
    ctx.progress({ phase: 'unpacking', lastLine: `${c.stepId}/${path.basename(c.file)}` });
    if (c.kind === 'tar') await unpackTar(ctx, c.file, dir, flavour);
    else if (c.kind === 'squashfs') await unpackSquashfs(ctx, c.file, dir, flavour);
    else await unpackDisk(ctx, c.file, dir, flavour);
    if (await exists(path.join(dir, WANTED[flavour].marker))) return { dir, source: c };
    tried.push(`${c.stepId}/${path.basename(c.file)}`);
  }
  throw badInput(`step "${ctx.step.id}": no input has ${WANTED[flavour].marker} (not a ${flavour === 'rpm' ? 'RPM' : 'Debian'} root?); tried ${tried.join(', ')}`);
}

async function unpackTar(ctx: KindContext, file: string, dir: string, flavour: RootFlavour): Promise<void> {
  // Members may be stored as "./var/..." or "var/..."; a leading * matches both.
  const patterns = WANTED[flavour].paths.flatMap((p) => [`*${p}`, `*${p}/*`]);
  // tar exits 2 when a pattern matches nothing (a root without docs, or not this kind of
  // root): the marker check decides, and absent docs show up per package as "missing".
  try {
    await ctx.run(['tar', '--extract', `--file=${file}`, `--directory=${dir}`, '--wildcards', '--no-same-owner', '--no-same-permissions', '--delay-directory-restore', '--', ...patterns]);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
  }
}

async function unpackSquashfs(ctx: KindContext, file: string, dir: string, flavour: RootFlavour): Promise<void> {
  const dest = path.join(dir, 'x');
  await ctx.run(['unsquashfs', '-no-xattrs', '-quiet', '-no-progress', '-dest', dest, file, ...WANTED[flavour].paths.map((p) => `/${p}`)]);
  // unsquashfs insists on creating dest itself; move its content up.
  for (const name of await fs.readdir(dest)) await fs.rename(path.join(dest, name), path.join(dir, name));
  await fs.rmdir(dest);
}

/** A raw disk: each partition (or the whole file) is tried as ext2/3/4 with debugfs. */
async function unpackDisk(ctx: KindContext, file: string, dir: string, flavour: RootFlavour): Promise<void> {
  const lines: string[] = [];
  let offsets: number[] = [0];
  try {
    await ctx.run(['sfdisk', '--json', file], { onLine: (line, stream) => stream === 'stdout' && lines.push(line) });
    const table = JSON.parse(lines.join('\n')) as { partitiontable?: { sectorsize?: number; partitions?: Array<{ start: number }> } };
    const sector = table.partitiontable?.sectorsize ?? 512;
    const parts = table.partitiontable?.partitions ?? [];
    if (parts.length > 0) offsets = parts.map((p) => p.start * sector);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    // No partition table: a bare filesystem image.
  }
  for (const offset of offsets) {
    const cmdFile = path.join(ctx.workDir, `debugfs-${offset}.cmd`);
    const commands = WANTED[flavour].paths.map((p) => {
      const parent = path.join(dir, path.dirname(p));
      return { parent, line: `rdump "/${p}" "${parent}"` };
    });
    for (const c of commands) await fs.mkdir(c.parent, { recursive: true });
    await fs.writeFile(cmdFile, commands.map((c) => `${c.line}\n`).join(''));
    try {
      await ctx.run(['debugfs', '-f', cmdFile, `${file}?offset=${offset}`]);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      continue; // not an ext filesystem (an EFI partition, swap)
    }
    if (await exists(path.join(dir, WANTED[flavour].marker))) return;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a file of an unpacked root, following symbolic links as the root would (absolute
 * links resolve inside it), never outside it. Undefined when absent.
 */
export async function readInRoot(root: string, rel: string, limit = 16 * 1024 * 1024): Promise<string | undefined> {
  const real = await resolveInRoot(root, rel);
  if (real === undefined) return undefined;
  try {
    const handle = await fs.open(real, 'r');
    try {
      const buf = Buffer.alloc(Math.min(limit, (await handle.stat()).size));
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (['ENOENT', 'EISDIR', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

/** The host path of `rel` inside root with every link resolved within root (40 links at most). */
export async function resolveInRoot(root: string, rel: string): Promise<string | undefined> {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = path.join(root, ...done, part);
    let stat;
    try {
      stat = await fs.lstat(here);
    } catch {
      return undefined;
    }
    if (stat.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = await fs.readlink(here);
      if (target.startsWith('/')) done.length = 0;
      parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
}
