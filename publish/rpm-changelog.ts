// Which %changelog entries of an RPM lead from one version to another. Positional, as a
// maintainer reads an ALT changelog: the entries newer than the old version's top entry, up to
// the new version's, newest first. An entry whose name field carries no version is kept when it
// lies inside that range (it cannot be placed by version). Pure.
import { compareRpmVersions, type ChangelogEntry } from './debversion';

/** At most this many entries per package: a package rebuilt 500 times since last night tells the newest. */
export const RPM_CHANGELOG_MAX_ENTRIES = 20;

/**
 * <0, 0, >0 of a changelog entry's version against a lock's [epoch:]version-release. ALT's
 * changelog names rarely carry the epoch, so an entry without one is compared without the lock's.
 */
function entryVsLock(entry: string, lock: string): number | undefined {
  const bare = /^\d+:/.test(entry) ? lock : lock.replace(/^\d+:/, '');
  try {
    return compareRpmVersions(entry, bare);
  } catch {
    return undefined;
  }
}

/** Entries (newest first) between `from` and `to`; for a downgrade those taken away (newer than `to`, up to `from`). */
export function rpmChangelogBetween(entries: readonly ChangelogEntry[], from: string, to: string, max = RPM_CHANGELOG_MAX_ENTRIES): ChangelogEntry[] {
  let order: number;
  try {
    order = compareRpmVersions(from, to);
  } catch {
    return [];
  }
  const [lo, hi] = order <= 0 ? [from, to] : [to, from];
  const placed = (e: ChangelogEntry, evr: string) => (e.version === '' ? undefined : entryVsLock(e.version, evr));
  // The top entry of the newer version: the first not newer than it (entries above it are later builds').
  const start = entries.findIndex((e) => (placed(e, hi) ?? 1) <= 0);
  if (start < 0) return [];
  const out: ChangelogEntry[] = [];
  for (const e of entries.slice(start)) {
    if ((placed(e, lo) ?? 1) <= 0) break; // the older version's top entry: it and below were there before
    out.push(e);
    if (out.length >= max) break;
  }
  return out;
}
