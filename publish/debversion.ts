// Version order for the changes between two builds: Debian's is dpkg's own algorithm, kept
// in licenses/debversion.ts (the license decisions' version ranges use it too), RPM's is
// rpmvercmp below. And Debian changelogs (debian/changelog, changelog.Debian) read as entries,
// so "what changed between 1.2-1 and 1.4-2" is the entries above the first and up to the second.
// RPM's %changelog (rpm -q --changelog) is read here too: its entries carry the version, and
// RPM's own order (rpmvercmp, with epoch and release) is here for the alt toolchain's locks.

import { compareDebVersions } from '../licenses/debversion';

export { compareDebVersions };

/** [epoch:]version[-release] split as both dpkg and rpm split it (the release after the last dash). */
function splitEvr(v: string): { epoch: number; version: string; release: string } {
  const s = v.trim();
  const colon = s.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(s.slice(0, colon)) ? Number(s.slice(0, colon)) : 0;
  const rest = colon > 0 ? s.slice(colon + 1) : s;
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest, release: '' };
}

/** rpm's rpmvercmp (lib/rpmvercmp.c): alphanumeric segments, ~ sorts before and ^ after the end. */
function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const isAlnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const numeric = /\d/.test(a[i]!);
    const take = (s: string, k: number) => {
      let e = k;
      while (e < s.length && (numeric ? /\d/.test(s[e]!) : /[A-Za-z]/.test(s[e]!))) e++;
      return e;
    };
    const ei = take(a, i);
    const ej = take(b, j);
    let x = a.slice(i, ei);
    let y = b.slice(j, ej);
    // A numeric segment is newer than an alphabetic one.
    if (y === '') return numeric ? 1 : -1;
    if (numeric) {
      x = x.replace(/^0+/, '');
      y = y.replace(/^0+/, '');
      if (x.length !== y.length) return x.length - y.length;
    }
    if (x !== y) return x < y ? -1 : 1;
    i = ei;
    j = ej;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** <0, 0, >0 as rpm orders two [epoch:]version-release strings (a missing epoch is 0). */
export function compareRpmVersions(a: string, b: string): number {
  const x = splitEvr(a);
  const y = splitEvr(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return rpmvercmp(x.version, y.version) || rpmvercmp(x.release, y.release);
}

export type VersionScheme = 'deb' | 'rpm';
export const VERSION_ORDER: Record<VersionScheme, (a: string, b: string) => number> = { deb: compareDebVersions, rpm: compareRpmVersions };

export interface ChangelogEntry {
  version: string;
  /** The entry's heading (Debian: `pkg (ver) dist; urgency=…`; RPM: `* date author - ver`). */
  heading: string;
  /** The change lines, as written. */
  changes: string[];
  /** The trailer: ` -- author  date` (Debian) or the heading's author and date (RPM). */
  byline?: string;
}

const DEB_HEADING = /^(\S+) \(([^()\s]+)\)\s+[^;]*;.*$/;

/** A Debian changelog's entries, newest first (as written). */
export function parseDebianChangelog(text: string): ChangelogEntry[] {
  const out: ChangelogEntry[] = [];
  let current: ChangelogEntry | undefined;
  for (const line of text.split('\n')) {
    const heading = DEB_HEADING.exec(line);
    if (heading) {
      current = { version: heading[2]!, heading: line, changes: [] };
      out.push(current);
    } else if (current && line.startsWith(' -- ')) {
      current.byline = line.slice(4).trim();
      current = undefined;
    } else if (current && line.trim() !== '') {
      current.changes.push(line.replace(/^ {2}/, ''));
    }
  }
  return out;
}

const RPM_HEADING = /^\* .*?(?:\s-\s?|\s)((?:\d+:)?[^\s<>]+-[^\s<>]+)\s*$/;

/** `rpm -q --changelog` output (or a spec's %changelog): entries newest first. */
export function parseRpmChangelog(text: string): ChangelogEntry[] {
  const out: ChangelogEntry[] = [];
  let current: ChangelogEntry | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('* ')) {
      const m = RPM_HEADING.exec(line);
      current = { version: m?.[1] ?? '', heading: line, changes: [], byline: line.slice(2).replace(/\s-?\s?[^\s]+$/, '').trim() };
      out.push(current);
    } else if (current && line.trim() !== '') {
      current.changes.push(line);
    }
  }
  return out;
}

/**
 * The entries that lead from `from` to `to`: for an upgrade those newer than `from` up to
 * `to`; for a downgrade those that were taken away (newer than `to` up to `from`).
 * Newest first, in the scheme's order (dpkg's or rpm's).
 */
export function changelogBetween(entries: readonly ChangelogEntry[], from: string, to: string, scheme: VersionScheme = 'deb'): ChangelogEntry[] {
  const cmp = VERSION_ORDER[scheme];
  const [lo, hi] = cmp(from, to) <= 0 ? [from, to] : [to, from];
  const between = (v: string) => {
    try {
      return cmp(v, lo) > 0 && cmp(v, hi) <= 0;
    } catch {
      return false; // an entry whose heading holds no valid version belongs to no range
    }
  };
  return entries.filter((e) => e.version !== '' && between(e.version));
}
