// mmdebstrap for the build roots: unshare mode (user, mount and pid namespaces; no host
// root needed), packages pinned to the lock's versions, downloads shared through a local
// .deb cache, the apt lists resolve left (no update of its own) when this host has them, and
// the dpkg status copied out so the result can be checked against the lock.
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../../config/config';
import { sha256File } from '../store';
import { sourceLine } from './apt';
import { debFileName, type Lock, type LockedPackage } from './lock';
import { SSH_HOST_KEY_GLOBS } from './ssh-host-keys';

/** The .deb cache shared by every build on this host (SBORKA_DEBIAN_CACHE_DIR overrides). */
export function debCacheDir(config: Config): string {
  return process.env.SBORKA_DEBIAN_CACHE_DIR ?? path.join(config.stateDir, 'cache', 'debian-archives');
}

/** Debian's name for the host's arch: a root of another arch cannot run its programs here (no binfmt_misc). */
export function hostDebArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
}

export interface MmdebstrapRun {
  variant: 'custom' | 'apt' | 'extract';
  /** `name=version` pins. */
  include: readonly string[];
  lock: Lock;
  target: string;
  /** Debs to offer apt before it downloads (copies from the cache, see seedDebs). */
  seedDir: string;
  /** Where the debs apt used are copied out to (they then join the cache). */
  debsOut: string;
  /** Where /var/lib/dpkg/status is copied out to. */
  statusOut: string;
  /** A tarball to unpack first (the base layer); given through $SBORKA_BASE_TAR. */
  baseTar?: boolean;
  /** Keep the debs inside the root (a foreign root is installed later, where it can run). */
  keepDebs?: boolean;
  /** apt lists of the lock's sources to install from instead of running `apt-get update`. */
  listsDir?: string;
}

/** Special hooks split their arguments on spaces: refuse paths they would misread. */
function hookPath(p: string): string {
  if (/\s/.test(p)) throw new Error(`mmdebstrap hooks cannot take a path with white space: ${JSON.stringify(p)}`);
  return p;
}

export function mmdebstrapArgv(r: MmdebstrapRun): string[] {
  const foreign = r.lock.debArch !== hostDebArch();
  // The extract variant runs no customize hooks: its last hooks run after extraction.
  const last = r.variant === 'extract' ? '--extract-hook' : '--customize-hook';
  const skips = ['essential/unlink', ...(foreign ? ['check/qemu'] : []), ...(r.keepDebs ? ['cleanup/apt/cache'] : []), ...(r.listsDir ? ['update'] : [])];
  return [
    'mmdebstrap',
    '--mode=unshare',
    `--variant=${r.variant}`,
    '--format=tar',
    `--architectures=${r.lock.debArch}`,
    `--skip=${skips.join(',')}`,
    ...(r.include.length ? [`--include=${r.include.join(',')}`] : []),
    // The base layer without its /dev entries: mmdebstrap makes /dev itself. tar skips them
    // on its own (mmtarfilter would rewrite the whole stream in Python first).
    ...(r.baseTar ? ['--setup-hook=tar --extract --file="$SBORKA_BASE_TAR" --exclude="./dev/*" --xattrs --xattrs-include="*" --numeric-owner --directory "$1"'] : []),
    '--setup-hook=mkdir -p "$1/var/cache/apt/archives/"',
    // The lists apt downloaded and verified for resolve: updating again would only repeat that.
    ...(r.listsDir ? [`--setup-hook=sync-in ${hookPath(r.listsDir)} /var/lib/apt/lists/`] : []),
    `--setup-hook=sync-in ${hookPath(r.seedDir)} /var/cache/apt/archives/`,
    `${last}=sync-out /var/cache/apt/archives ${hookPath(r.debsOut)}`,
    // An unpacked root has no dpkg status yet.
    ...(r.variant === 'extract' ? [] : [`${last}=copy-out /var/lib/dpkg/status ${hookPath(r.statusOut)}`]),
    // apt leaves a partial/ untouched when it downloads nothing into it (every deb from the
    // cache, the lists from resolve) and stamps it when it does; apt inside the root gives it
    // to _apt. One owner, mode and mtime either way, or a warm cache would change the root's
    // bytes. (mmdebstrap's own cleanup, later, runs apt from outside, which hands it to _apt
    // again if _apt can reach the root: prepare-root keeps the root where it cannot.)
    `${last}=for d in "$1/var/cache/apt/archives/partial" "$1/var/lib/apt/lists/partial"; do if [ -d "$d" ]; then chown 0:0 "$d" && chmod 0700 "$d" && touch --no-dereference --date="@$SOURCE_DATE_EPOCH" "$d"; fi; done`,
    // mmdebstrap copies the host's resolv.conf and hostname in: they must not reach the image.
    // openssh-server's postinst made random host keys: a layer follows its lock only (ssh-host-keys.ts).
    `${last}=rm -f "$1/etc/resolv.conf" "$1/etc/hostname" ${SSH_HOST_KEY_GLOBS.map((g) => `"$1"${g}`).join(' ')}`,
    r.lock.suite,
    r.target,
    ...r.lock.sources.map(sourceLine),
  ];
}

/**
 * Copies the cached debs of `packages` whose digest matches the lock into seedDir. Copies,
 * not hard links: a link changes the cached file's ctime, and another build's mmdebstrap
 * reading its own link to that file with tar fails with "file changed as we read it".
 */
export async function seedDebs(cacheDir: string, packages: readonly LockedPackage[], seedDir: string): Promise<number> {
  await fs.mkdir(seedDir, { recursive: true });
  let seeded = 0;
  for (const p of packages) {
    const name = debFileName(p);
    const cached = path.join(cacheDir, name);
    try {
      if ((await sha256File(cached)) !== p.sha256) {
        await fs.rm(cached, { force: true }); // a corrupt or foreign file: apt downloads it again
        continue;
      }
    } catch {
      continue;
    }
    // A reflink where the file system has them: no bytes copied.
    await fs.copyFile(cached, path.join(seedDir, name), fsConstants.COPYFILE_FICLONE);
    seeded += 1;
  }
  return seeded;
}

/** Adds the debs apt used to the cache; each appears by one rename, so readers never see half a file. */
export async function keepDebs(debsDir: string, cacheDir: string): Promise<number> {
  await fs.mkdir(cacheDir, { recursive: true });
  let added = 0;
  let names: string[];
  try {
    names = (await fs.readdir(debsDir)).filter((n) => n.endsWith('.deb'));
  } catch {
    return 0;
  }
  for (const name of names) {
    const dest = path.join(cacheDir, name);
    try {
      await fs.access(dest);
      continue;
    } catch {
      // not cached yet
    }
    const tmp = path.join(cacheDir, `.${name}.${process.pid}.tmp`);
    // A copy, not a link: the scratch name's removal would change the cached inode's ctime,
    // and a tar reading it at that moment (another build's sync-in) would fail.
    await fs.copyFile(path.join(debsDir, name), tmp);
    await fs.rename(tmp, dest);
    added += 1;
  }
  return added;
}

export async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    await fs.copyFile(from, to);
  }
}

/** Installed packages of a dpkg status file: name → `version arch`. */
export async function installedPackages(statusFile: string): Promise<Map<string, string>> {
  const text = await fs.readFile(statusFile, 'utf8');
  const out = new Map<string, string>();
  for (const stanza of text.split(/\n\n+/)) {
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim();
    const name = field('Package');
    if (name && field('Status') === 'install ok installed') out.set(name, `${field('Version')} ${field('Architecture')}`);
  }
  return out;
}

/** Differences between what dpkg installed and what the lock wants, as short lines. */
export function compareWithLock(installed: Map<string, string>, wanted: readonly LockedPackage[]): string[] {
  const problems: string[] = [];
  const want = new Map(wanted.map((p) => [p.name, `${p.version} ${p.arch}`]));
  for (const [name, v] of want) {
    const got = installed.get(name);
    if (got === undefined) problems.push(`${name} ${v}: not installed`);
    else if (got !== v) problems.push(`${name}: installed ${got}, the lock says ${v}`);
  }
  for (const [name, v] of installed) if (!want.has(name)) problems.push(`${name} ${v}: installed but not in the lock`);
  return problems;
}
