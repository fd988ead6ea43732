// apt's state kept between builds, one tree per (arch, sources) under the state directory:
// a warm `apt-get update` then revalidates the Release files only, instead of downloading
// every index again, and prepare-root's mmdebstrap runs take these lists rather than
// updating twice more. apt rewrites the lists in place (its own locking is off in our
// private tree), so the builds that share one tree take turns through a file lock.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { canonicalJson, sha256Hex } from '../../plan/cache-key';
import type { Config } from '../../config/config';
import { withFileLock } from '../file-lock';
import { makeAptRoot, type AptRoot } from './apt';
import type { AptSource } from './lock';

/** The directory of the apt tree of these sources and arch. */
export function aptStateDir(config: Config, debArch: string, sources: readonly AptSource[]): string {
  const id = sha256Hex(canonicalJson({ debArch, sources })).slice(0, 32);
  return path.join(config.stateDir, 'cache', 'debian-apt', `${debArch}-${id}`);
}

/** Runs fn on the apt tree of (debArch, sources), made when absent, while no other build uses it. */
export async function withAptState<T>(
  config: Config,
  debArch: string,
  sources: readonly AptSource[],
  signal: AbortSignal | undefined,
  fn: (apt: AptRoot) => Promise<T>,
): Promise<T> {
  const dir = aptStateDir(config, debArch, sources);
  return withFileLock(`${dir}.lock`, signal, async () => fn(await makeAptRoot(dir, debArch, sources)));
}

/**
 * Copies the lists of the tree (as the last resolve left them) into dest; false when there
 * are none (no resolve of these sources ran on this host). Copies, not links: a link made or
 * dropped elsewhere changes a shared inode's ctime, and tar (mmdebstrap's sync-in) fails on
 * a file that "changed as we read it".
 */
export async function snapshotLists(config: Config, debArch: string, sources: readonly AptSource[], signal: AbortSignal | undefined, dest: string): Promise<boolean> {
  const dir = aptStateDir(config, debArch, sources);
  try {
    await fs.access(dir);
  } catch {
    return false;
  }
  return withAptState(config, debArch, sources, signal, async (apt) => {
    const names = (await fs.readdir(apt.listsDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    if (!names.some((n) => n.endsWith('_Packages'))) return false;
    await fs.mkdir(dest, { recursive: true });
    for (const name of names) await fs.copyFile(path.join(apt.listsDir, name), path.join(dest, name));
    return true;
  });
}
