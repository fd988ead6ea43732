// Where mmdebstrap builds a root (its TMPDIR): a tmpfs with room for it when the host has one,
// else the step's work directory. mmdebstrap sets no force-unsafe-io, so dpkg fsyncs every
// file it unpacks, and mmdebstrap then deletes the whole tree; on a disk file system those two
// cost more than the install itself (here, ext4 mounted with `discard`: minbase took 146 s
// against 65 s on /dev/shm), on a tmpfs nothing. Only the scratch tree moves: the tar
// mmdebstrap writes (sorted, numeric owners, clamped mtimes) has the same bytes either way.
// A scratch directory of a process that died (kill -9) is swept by the next build.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { indexKey } from './apt';
import type { LockedPackage } from './lock';
import { processIsRunning } from '../process-runner';

/** statfs(2)'s f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;
const PREFIX = 'sborka-root-';
/** Room asked beyond the estimate: apt's lists and caches, dpkg's database, the estimate's error. */
const SLACK_BYTES = 512 * 2 ** 20;

export interface RootScratch {
  dir: string;
  onTmpfs: boolean;
  /** Removes the directory (a tmpfs one holds memory); the work directory's goes with the step. */
  release(): Promise<void>;
}

/** The tmpfs to try: SBORKA_DEBIAN_ROOT_TMPFS (a directory, or `off`), else /dev/shm. */
export function tmpfsDir(): string | undefined {
  const set = process.env.SBORKA_DEBIAN_ROOT_TMPFS;
  if (set === 'off') return undefined;
  return set || '/dev/shm';
}

/**
 * A fresh 0700 directory (out of _apt's reach, see mmdebstrapArgv) for a root of about
 * `estimate` bytes: on the tmpfs when it is one and both it and the memory have room for
 * twice the estimate, else under workDir. An unknown estimate stays on disk.
 */
export async function rootScratch(workDir: string, estimate: number | undefined, tmpfs: string | undefined = tmpfsDir()): Promise<RootScratch> {
  if (tmpfs !== undefined && estimate !== undefined && (await roomOnTmpfs(tmpfs)) >= 2 * (estimate + SLACK_BYTES)) {
    await sweepOrphanScratch(tmpfs);
    const dir = await fs.mkdtemp(path.join(tmpfs, `${PREFIX}${process.pid}-`));
    // A failed run can leave files of the namespace's ids that an ordinary user cannot remove:
    // that must not hide the run's own failure (the sweep tries again later).
    return { dir, onTmpfs: true, release: () => fs.rm(dir, { recursive: true, force: true }).catch(() => undefined) };
  }
  const dir = await fs.mkdtemp(path.join(workDir, 'root-'));
  return { dir, onTmpfs: false, release: async () => undefined };
}

/** Free bytes of `dir` if it is a tmpfs, bounded by the memory available (a tmpfs is memory); 0 otherwise. */
async function roomOnTmpfs(dir: string): Promise<number> {
  try {
    const st = await fs.statfs(dir);
    if (Number(st.type) !== TMPFS_MAGIC) return 0;
    return Math.min(Number(st.bavail) * Number(st.bsize), await memAvailable());
  } catch {
    return 0;
  }
}

async function memAvailable(): Promise<number> {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(await fs.readFile('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux's /proc: the kernel's own free figure
  }
  return os.freemem();
}

/**
 * Removes scratch directories under `tmpfs` left by processes of this user that are gone.
 * Only real directories (never a symlink) named by this module and owned by this user: /dev/shm
 * is everyone's, and its sticky bit keeps others from swapping an entry of ours.
 */
export async function sweepOrphanScratch(tmpfs: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(tmpfs);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-[A-Za-z0-9]{6}$`).exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processIsRunning(pid)) continue;
    const p = path.join(tmpfs, name);
    try {
      const st = await fs.lstat(p);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      await fs.rm(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/**
 * The bytes a root of `packages` takes while mmdebstrap builds it: installed sizes plus the debs
 * (they sit in apt's cache until its cleanup), from the Packages indexes in listsDir; undefined
 * when an index lacks one of them.
 */
export async function estimateRootBytes(listsDir: string, packages: readonly LockedPackage[]): Promise<number | undefined> {
  const wanted = new Set(packages.map((p) => indexKey(p.name, p.version, p.arch)));
  const names = new Set(packages.map((p) => p.name));
  const sizes = new Map<string, number>();
  let files: string[];
  try {
    files = (await fs.readdir(listsDir)).filter((f) => f.endsWith('_Packages')).sort();
  } catch {
    return undefined;
  }
  const field = (stanza: string, name: string) => new RegExp(`^${name}: *(.*)$`, 'm').exec(stanza)?.[1]?.trim();
  for (const f of files) {
    // Whole files and a look at each stanza's first line (Package: comes first): the few
    // locked stanzas are parsed, not the ~60,000 others (the estimate is on the step's path).
    const text = await fs.readFile(path.join(listsDir, f), 'latin1');
    for (let pos = 0; pos < text.length;) {
      let end = text.indexOf('\n\n', pos);
      if (end < 0) end = text.length;
      if (text.startsWith('Package: ', pos)) {
        const nl = text.indexOf('\n', pos);
        if (names.has(text.slice(pos + 9, nl < 0 || nl > end ? end : nl).trim())) {
          const stanza = text.slice(pos, end);
          const key = indexKey(field(stanza, 'Package') ?? '', field(stanza, 'Version') ?? '', field(stanza, 'Architecture') ?? '');
          const installed = Number(field(stanza, 'Installed-Size') ?? NaN);
          const size = Number(field(stanza, 'Size') ?? NaN);
          if (wanted.has(key) && Number.isFinite(installed) && Number.isFinite(size)) sizes.set(key, installed * 1024 + size);
        }
      }
      pos = end + 2;
    }
  }
  if (sizes.size !== wanted.size) return undefined;
  return [...sizes.values()].reduce((a, b) => a + b, 0);
}
