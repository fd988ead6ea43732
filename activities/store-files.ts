// File-tree helpers of the step store: hashing, describing an entry's outputs, fsync.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { StepOutputs } from '../plan/step-contract';
import { isSparse, sparseSha256 } from './sparse-sha256';

export async function sha256File(file: string): Promise<string> {
  // A disk image is mostly holes: hashed without reading them (same digest, far less I/O).
  if (await isSparse(file)) return sparseSha256(file);
  const hash = createHash('sha256');
  // Large reads: a 2 GiB disk image hashes in half the time of the default 64 KiB.
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What an outputs directory holds, by path relative to it (sorted). */
export interface TreeListing {
  files: string[];
  /** Symbolic links and their targets: not in the manifest (no content of their own), so in the seal. */
  links: Record<string, string>;
  dirs: string[];
  /** Sockets, fifos, devices: never allowed in an entry. */
  others: string[];
}

export async function listTree(dir: string): Promise<TreeListing> {
  const out: TreeListing = { files: [], links: {}, dirs: [], others: [] };
  const walk = async (rel: string) => {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.dirs.push(relPath);
        await walk(relPath);
      } else if (e.isFile()) out.files.push(relPath);
      else if (e.isSymbolicLink()) out.links[relPath] = await fs.readlink(path.join(dir, relPath));
      else out.others.push(relPath);
    }
  };
  await walk('');
  out.files.sort(byCodeUnit);
  out.dirs.sort(byCodeUnit);
  out.links = Object.fromEntries(Object.entries(out.links).sort(([a], [b]) => byCodeUnit(a, b)));
  return out;
}

/**
 * Every regular file under dir, sorted by path, with its digest (taken from `known` when the
 * step already computed it). Sockets, fifos and devices are refused.
 */
export async function describeTree(dir: string, known: Record<string, string>): Promise<{ files: StepOutputs['files']; listing: TreeListing }> {
  const listing = await listTree(dir);
  if (listing.others.length > 0) throw new Error(`output ${listing.others[0]} is neither a file, a directory nor a symlink`);
  const files: StepOutputs['files'] = [];
  for (const rel of listing.files) {
    const abs = path.join(dir, rel);
    files.push({ path: rel, sha256: known[rel] ?? (await sha256File(abs)), size: (await fs.stat(abs)).size });
  }
  return { files, listing };
}

export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function fsyncTree(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) await fsyncTree(abs);
    else if (e.isFile()) await fsyncPath(abs);
  }
  await fsyncPath(dir);
}

export async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
