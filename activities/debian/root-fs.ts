// Editing a build root from the host, arch-independently: paths are resolved the way the
// root's own programs would see them (symlinks followed with the root as "/"), so an
// absolute symlink inside the root can never make sborka write to the host's files.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * The host path of `p` inside `root`, following symlinks as a chroot would (`..` stops at
 * the root); with followLast false, a symlink at the end is returned as itself.
 */
export async function resolveInRoot(root: string, p: string, followLast = true): Promise<string> {
  const pending = p.split('/').filter((s) => s !== '' && s !== '.');
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = (await fs.lstat(candidate)).isSymbolicLink();
    } catch {
      isLink = false; // does not exist (yet): taken literally
    }
    if (isLink && (pending.length > 0 || followLast)) {
      if (++hops > 40) throw new Error(`too many levels of symbolic links in ${p} inside the root`);
      const target = await fs.readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

export async function existsInRoot(root: string, p: string): Promise<boolean> {
  try {
    await fs.stat(await resolveInRoot(root, p));
    return true;
  } catch {
    return false;
  }
}

export async function readInRoot(root: string, p: string): Promise<string | undefined> {
  try {
    return await fs.readFile(await resolveInRoot(root, p), 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes a file owned by root (replacing a symlink at that place rather than writing through it). */
export async function writeInRoot(root: string, p: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const target = await resolveInRoot(root, p, false);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.rm(target, { force: true });
  await fs.writeFile(target, content, { mode });
  await fs.chmod(target, mode);
  await fs.chown(target, 0, 0);
}

export async function symlinkInRoot(root: string, p: string, target: string): Promise<void> {
  const at = await resolveInRoot(root, p, false);
  await fs.mkdir(path.dirname(at), { recursive: true });
  await fs.rm(at, { force: true });
  await fs.symlink(target, at);
  await fs.lchown(at, 0, 0);
}

/**
 * Copies a host file or directory into the root at `dest` (a directory's content is merged
 * into dest). Entries get owner 0:0 and keep their modes; symlinks are copied as links.
 */
export async function copyIntoRoot(root: string, src: string, dest: string): Promise<number> {
  const st = await fs.lstat(src);
  if (st.isDirectory()) {
    const dir = await resolveInRoot(root, dest);
    let existing: Awaited<ReturnType<typeof fs.stat>> | undefined;
    try {
      existing = await fs.stat(dir);
    } catch {
      existing = undefined;
    }
    if (existing && !existing.isDirectory()) throw new Error(`${dest} is a file in the root, the overlay has a directory there`);
    if (!existing) {
      await fs.mkdir(dir, { recursive: true });
      await fs.chmod(dir, st.mode & 0o7777);
      await fs.chown(dir, 0, 0);
    }
    let n = 0;
    for (const name of (await fs.readdir(src)).sort()) n += await copyIntoRoot(root, path.join(src, name), path.posix.join(dest, name));
    return n;
  }
  const at = await resolveInRoot(root, dest, false);
  await fs.mkdir(path.dirname(at), { recursive: true });
  try {
    if ((await fs.lstat(at)).isDirectory()) throw new Error(`${dest} is a directory in the root, the overlay has a file there`);
    await fs.rm(at, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (st.isSymbolicLink()) {
    await fs.symlink(await fs.readlink(src), at);
    await fs.lchown(at, 0, 0);
  } else if (st.isFile()) {
    await fs.copyFile(src, at);
    await fs.chmod(at, st.mode & 0o7777);
    await fs.chown(at, 0, 0);
  } else {
    throw new Error(`${src} is neither a file, a directory nor a symlink`);
  }
  return 1;
}
