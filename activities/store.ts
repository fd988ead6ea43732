// The content-addressed step store: objects/<key[0..2]>/<key>/ holding outputs/ and
// manifest.json. An entry appears by one rename of a fully written, fsynced directory, so a
// reader either sees all of it or nothing; the manifest is written last inside it.
import { randomBytes, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { canonicalJson, sha256Hex } from '../plan/cache-key';
import { isSparse, sparseSha256 } from './sparse-sha256';
import { StepOutputs } from '../plan/step-contract';

export const StoreManifest = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  kind: z.string(),
  createdAt: z.string(),
  outputs: StepOutputs,
});
export type StoreManifest = z.infer<typeof StoreManifest>;

export interface StoreEntry {
  key: string;
  dir: string;
  outputsDir: string;
  manifest: StoreManifest;
}

export interface StoreEntryInfo {
  key: string;
  kind: string;
  dir: string;
  /** Bytes of the outputs plus the manifest. */
  bytes: number;
  /** The entry directory's mtime: set at commit and on every hit. */
  lastUsedMs: number;
}

/** Where a step writes before commit: inside the store, so the final rename stays on one filesystem. */
export interface Staging {
  dir: string;
  outputsDir: string;
  /** Scratch space and the programs' working directory; dropped at commit. */
  workDir: string;
}

export interface CommitMeta {
  key?: string;
  kind: string;
  values?: Record<string, unknown>;
  /** sha256 of outputs the step already knows, by path (see commit). */
  digests?: Record<string, string>;
}

const KEY = /^[0-9a-f]{64}$/;

export class StepStore {
  constructor(readonly root: string) {}

  private get objectsDir(): string {
    return path.join(this.root, 'objects');
  }

  get tmpDir(): string {
    return path.join(this.root, 'tmp');
  }

  entryDir(key: string): string {
    if (!KEY.test(key)) throw new Error(`store key must be 64 lower-case hex digits, got ${JSON.stringify(key)}`);
    return path.join(this.objectsDir, key.slice(0, 2), key);
  }

  /** The committed entry, or undefined. A hit records its use unless `touch` is false. */
  async lookup(key: string, options: { touch?: boolean } = {}): Promise<StoreEntry | undefined> {
    const dir = this.entryDir(key);
    let text: string;
    try {
      text = await fs.readFile(path.join(dir, 'manifest.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const manifest = StoreManifest.parse(JSON.parse(text));
    if (options.touch !== false) {
      const now = new Date();
      try {
        await fs.utimes(dir, now, now);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // removed by gc meanwhile
        throw err;
      }
    }
    return { key, dir, outputsDir: path.join(dir, 'outputs'), manifest };
  }

  async createStaging(): Promise<Staging> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    // host~pid~random: gc can tell a live writer's staging from a dead one's.
    const dir = path.join(this.tmpDir, `${os.hostname()}~${process.pid}~${randomBytes(6).toString('hex')}`);
    const staging = { dir, outputsDir: path.join(dir, 'outputs'), workDir: path.join(dir, 'work') };
    await fs.mkdir(staging.outputsDir, { recursive: true });
    await fs.mkdir(staging.workDir);
    return staging;
  }

  async discard(staging: Staging): Promise<void> {
    await fs.rm(staging.dir, { recursive: true, force: true });
  }

  /**
   * Lists and hashes the outputs, writes the manifest, fsyncs everything and renames the
   * staging directory into place. Without a key the entry is keyed by its outputs (for steps
   * that are not cacheable). Another writer's entry under the same key wins harmlessly.
   * `digests` holds the sha256 of outputs the step already knows (it hashed them, or linked
   * them from an entry whose manifest has them), by path: those are not read again.
   */
  async commit(staging: Staging, meta: CommitMeta): Promise<StoreEntry> {
    // The scratch space (an unpacked root: thousands of files) goes while the outputs are
    // hashed and synced. Its new name keeps the writer's host~pid, so cleanTmp leaves it to us.
    const scratch = `${staging.dir}~scratch`;
    await fs.rename(staging.workDir, scratch).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    const [entry] = await Promise.all([this.place(staging, meta), fs.rm(scratch, { recursive: true, force: true })]);
    return entry;
  }

  private async place(staging: Staging, meta: CommitMeta): Promise<StoreEntry> {
    const files = await describeTree(staging.outputsDir, meta.digests ?? {});
    const outputs = StepOutputs.parse({ files, values: meta.values ?? {} });
    const key = meta.key ?? outputsKey(meta.kind, outputs);
    const manifest: StoreManifest = { key, kind: meta.kind, createdAt: new Date().toISOString(), outputs };
    const manifestPath = path.join(staging.dir, 'manifest.json');
    await fs.writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    await fsyncTree(staging.dir);

    const final = this.entryDir(key);
    await fs.mkdir(path.dirname(final), { recursive: true });
    try {
      await fs.rename(staging.dir, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await this.discard(staging);
      const existing = await this.lookup(key);
      if (!existing) throw new Error(`store entry ${key} exists but has no manifest: ${final}`);
      return existing;
    }
    await fsyncPath(path.dirname(final));
    return { key, dir: final, outputsDir: path.join(final, 'outputs'), manifest };
  }

  async list(): Promise<StoreEntryInfo[]> {
    const infos: StoreEntryInfo[] = [];
    for (const prefix of await readdirOrEmpty(this.objectsDir)) {
      for (const key of await readdirOrEmpty(path.join(this.objectsDir, prefix))) {
        if (!KEY.test(key)) continue;
        const dir = path.join(this.objectsDir, prefix, key);
        try {
          const text = await fs.readFile(path.join(dir, 'manifest.json'), 'utf8');
          const manifest = StoreManifest.parse(JSON.parse(text));
          const stat = await fs.stat(dir);
          const bytes = manifest.outputs.files.reduce((sum, f) => sum + f.size, Buffer.byteLength(text));
          infos.push({ key, kind: manifest.kind, dir, bytes, lastUsedMs: stat.mtimeMs });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile
          throw new Error(`store entry ${dir} is unreadable: ${(err as Error).message}`);
        }
      }
    }
    return infos;
  }

  /** When the entry was last used (its directory's mtime), or undefined when absent. */
  async lastUsedMs(key: string): Promise<number | undefined> {
    try {
      return (await fs.stat(this.entryDir(key))).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Removes an entry: renamed out of objects/ first, so no reader ever sees half of it. */
  async remove(key: string): Promise<boolean> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    const trash = path.join(this.tmpDir, `trash~${randomBytes(6).toString('hex')}`);
    try {
      await fs.rename(this.entryDir(key), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fs.rm(trash, { recursive: true, force: true });
    return true;
  }

  /**
   * Drops staging directories of dead writers on this host and leftover trash; returns how
   * many. `beforeRemove` sees each dead writer's staging directory first.
   */
  async cleanTmp(isAlive: (pid: number) => boolean, beforeRemove?: (dir: string) => Promise<void>): Promise<number> {
    let removed = 0;
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      const [host, pid] = name.split('~');
      const dead = host === 'trash' || (host === os.hostname() && pid !== undefined && !isAlive(Number(pid)));
      if (!dead) continue;
      const dir = path.join(this.tmpDir, name);
      if (host !== 'trash') await beforeRemove?.(dir);
      await fs.rm(dir, { recursive: true, force: true });
      removed += 1;
    }
    return removed;
  }
}

/** The key of a non-cacheable step's result: equal outputs give equal keys, so later steps still cache. */
export function outputsKey(kind: string, outputs: StepOutputs): string {
  return sha256Hex(canonicalJson({ kind, outputs }));
}

export async function sha256File(file: string): Promise<string> {
  // A disk image is mostly holes: hashed without reading them (same digest, far less I/O).
  if (await isSparse(file)) return sparseSha256(file);
  const hash = createHash('sha256');
  // Large reads: a 2 GiB disk image hashes in half the time of the default 64 KiB.
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Every regular file under dir, sorted by path. Symbolic links are kept in the entry but not
 * listed (they hold no content of their own); sockets, fifos and devices are refused.
 */
async function describeTree(dir: string, known: Record<string, string>): Promise<StepOutputs['files']> {
  const files: StepOutputs['files'] = [];
  const walk = async (rel: string) => {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      const abs = path.join(dir, relPath);
      if (e.isDirectory()) await walk(relPath);
      else if (e.isFile()) files.push({ path: relPath, sha256: known[relPath] ?? (await sha256File(abs)), size: (await fs.stat(abs)).size });
      else if (!e.isSymbolicLink()) throw new Error(`output ${relPath} is neither a file, a directory nor a symlink`);
    }
  };
  await walk('');
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function fsyncTree(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) await fsyncTree(abs);
    else if (e.isFile()) await fsyncPath(abs);
  }
  await fsyncPath(dir);
}

async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
