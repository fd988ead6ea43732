// Filesystem primitives publishing relies on: directories made below a root without
// following a symlink out of it, copies hashed on the way, fsync, and atomic swaps.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ConfinementError, isWithin } from '../../publish/template';
import { fsyncPath } from '../store-files';

/**
 * Creates `rel`'s directories below `root` one segment at a time. An existing segment that
 * is a symlink must resolve inside the root: a link to /etc is an escape, refused.
 */
export async function mkdirConfined(root: string, rel: string): Promise<string> {
  const realRoot = await fs.realpath(root);
  let current = realRoot;
  for (const seg of rel.split('/').filter((s) => s !== '')) {
    if (seg === '..' || seg === '.') throw new ConfinementError(`${rel}: "${seg}" segment`);
    const next = path.join(current, seg);
    let st;
    try {
      st = await fs.lstat(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      try {
        await fs.mkdir(next);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // a concurrent publisher made it
      }
      st = await fs.lstat(next);
    }
    if (st.isSymbolicLink()) {
      const target = await fs.realpath(next);
      if (!isWithin(realRoot, target)) throw new ConfinementError(`${path.join(root, rel)}: ${next} is a symlink to ${target}, outside the target root ${root}`);
      current = target;
      continue;
    }
    if (!st.isDirectory()) throw new ConfinementError(`${next} exists and is not a directory`);
    current = next;
  }
  return current;
}

/** The real path of `p` when it exists, checked to be inside the root; undefined when it does not exist. */
export async function realpathConfined(root: string, p: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await fs.realpath(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const realRoot = await fs.realpath(root);
  if (!isWithin(realRoot, real)) throw new ConfinementError(`${p} resolves to ${real}, outside the target root ${root}`);
  return real;
}

/** Copies one file, hashing what is written; the copy is read-only and fsynced. */
export async function copyHashed(src: string, dest: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(createReadStream(src), tap, createWriteStream(dest, { flags: 'wx', mode: 0o444 }));
  await fsyncPath(dest);
  return { sha256: hash.digest('hex'), size };
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export async function writeFileSynced(file: string, data: string | Buffer, mode = 0o444): Promise<void> {
  const handle = await fs.open(file, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export { fsyncPath };

/** Writes a small file by tmp + rename, so readers see the old or the new one. */
export async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  await fs.writeFile(tmp, data);
  await fsyncPath(tmp);
  await fs.rename(tmp, file);
  await fsyncPath(path.dirname(file));
}

/** Points `link` at `target` (relative) by renaming a fresh symlink over it: never absent, never half-made. */
export async function swapSymlink(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp-${randomBytes(6).toString('hex')}`;
  await fs.symlink(target, tmp);
  try {
    await fs.rename(tmp, link);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncPath(path.dirname(link));
}

export async function readlinkOrUndefined(link: string): Promise<string | undefined> {
  try {
    return await fs.readlink(link);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL') return undefined;
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** host~pid~random: a later run can tell a dead writer's staging from a live one's. */
export function stagingName(): string {
  return `${os.hostname()}~${process.pid}~${randomBytes(6).toString('hex')}`;
}

/** Removes staging directories whose writer on this host is gone (or older than a day elsewhere). */
export async function reapStaging(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    const [host, pidText] = name.split('~');
    const pid = Number(pidText);
    let dead: boolean;
    if (host === os.hostname() && Number.isInteger(pid)) {
      dead = !pidAlive(pid);
    } else {
      const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
      dead = st !== undefined && Date.now() - st.mtimeMs > 24 * 3_600_000;
    }
    if (dead) {
      await fs.rm(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lists every file below `dir` (relative, sorted); symlinks are refused, since a published tree holds none. */
export async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, p)));
    else if (entry.isFile()) out.push(p);
    else throw new Error(`${path.join(dir, p)} is not a regular file or directory`);
  }
  return out;
}
