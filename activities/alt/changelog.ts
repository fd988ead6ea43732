// RPM %changelog entries of the packages two alt builds differ in, read from the real rpm
// headers (CHANGELOGTIME, CHANGELOGNAME, CHANGELOGTEXT) with `rpm -qp --qf`. Used by the
// publish step's CHANGES.md and `sborka diff`, as activities/publish/changelogs.ts is for debs.
//
// rpmbuild appends the entries in the spec's order (build/parseChangelog.c, addChangelogEntry:
// headerAppendEntry), and ALT's and upstream's specs write them newest first; we still sort by
// CHANGELOGTIME (stably) so that a spec written out of order reads as rpm's own warning expects.
// ALT's name field is "Name <email> version-release" (Fedora's "Name <email> - version-release").
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChangelogLookup, ChangeSide } from '../../publish/changes';
import type { ChangelogEntry } from '../../publish/debversion';
import { PARTNER_REPO } from './context';

/**
 * One record per entry: the time, then the name and the text through rpm's :shescape format
 * (lib/formats.c: wrapped in '…', each ' written as '\''), so a text holding newlines, tabs or
 * quotes still parses. :shescape is in upstream rpm and ALT's rpm alike.
 */
export const CHANGELOG_QUERY_FORMAT = '[%{CHANGELOGTIME}\\n%{CHANGELOGNAME:shescape}\\n%{CHANGELOGTEXT:shescape}\\n]';

/** Bounds on what one package's changelog may cost: rpm's output, entries read, one text. */
const MAX_OUTPUT = 16 << 20;
const MAX_ENTRIES_READ = 2000;
const MAX_TEXT_CHARS = 4096;
const MAX_TEXT_LINES = 40;
const MAX_NAME_CHARS = 256;

export interface RawChangelogEntry {
  time: number;
  name: string;
  text: string;
}

/** Reads one '…' token of :shescape at `at` (which is the opening quote); returns the value and the index after it. */
function unquote(s: string, at: number): [string, number] | undefined {
  if (s[at] !== "'") return undefined;
  let out = '';
  let i = at + 1;
  for (;;) {
    const end = s.indexOf("'", i);
    if (end < 0) return undefined;
    out += s.slice(i, end);
    if (s.startsWith("'\\''", end)) {
      out += "'";
      i = end + 4;
    } else return [out, end + 1];
  }
}

/** The output of `rpm -qp --qf CHANGELOG_QUERY_FORMAT`, in header order; throws on anything else. */
export function parseChangelogQuery(out: string, maxEntries = MAX_ENTRIES_READ): RawChangelogEntry[] {
  const entries: RawChangelogEntry[] = [];
  let i = 0;
  while (i < out.length && entries.length < maxEntries) {
    const nl = out.indexOf('\n', i);
    const time = nl < 0 ? NaN : Number(out.slice(i, nl));
    if (!Number.isInteger(time) || time < 0) throw new Error(`rpm changelog query: no time at offset ${i}`);
    const name = unquote(out, nl + 1);
    if (!name || out[name[1]] !== '\n') throw new Error(`rpm changelog query: no quoted name at offset ${nl + 1}`);
    const text = unquote(out, name[1] + 1);
    if (!text || out[text[1]] !== '\n') throw new Error(`rpm changelog query: no quoted text at offset ${name[1] + 1}`);
    entries.push({ time, name: name[0], text: text[0] });
    i = text[1] + 1;
  }
  return entries;
}

/** Control characters (C0 but tab and newline, DEL, C1) would drive a terminal or break Markdown. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** rpm's :day format ("%a %b %d %Y"), in UTC rather than the reader's local time so that the report is the same everywhere. */
export function rpmDay(seconds: number): string {
  const d = new Date(seconds * 1000);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, '0')} ${d.getUTCFullYear()}`;
}

/** The name field's trailing [epoch:]version-release (after an optional "- "), and the author before it. */
export function splitChangelogName(name: string): { author: string; version: string } {
  const m = /^(.*?)\s+(?:-\s+)?((?:\d+:)?[^\s<>:-]+-[^\s<>:-]+)$/.exec(name.trim());
  return m ? { author: m[1]!.trim(), version: m[2]! } : { author: name.trim(), version: '' };
}

function capText(text: string): string[] {
  const lines = text.replace(CONTROL, '').split('\n');
  const out: string[] = [];
  let chars = 0;
  for (const [i, line] of lines.entries()) {
    if (i >= MAX_TEXT_LINES || chars + line.length > MAX_TEXT_CHARS) {
      const room = i < MAX_TEXT_LINES ? MAX_TEXT_CHARS - chars : 0;
      if (room > 0) out.push(`${line.slice(0, room)}…`);
      out.push(`[${lines.length - i} more lines cut]`);
      break;
    }
    out.push(line);
    chars += line.length;
  }
  return out;
}

/** Raw header entries as ChangelogEntry, newest first, control characters removed and texts capped. */
export function altChangelogEntries(raw: readonly RawChangelogEntry[]): ChangelogEntry[] {
  const sorted = raw.map((e, i) => ({ e, i })).sort((a, b) => b.e.time - a.e.time || a.i - b.i);
  return sorted.map(({ e }) => {
    const name = e.name.replace(/[\t\n]/g, ' ').replace(CONTROL, '').slice(0, MAX_NAME_CHARS);
    const { author, version } = splitChangelogName(name);
    const day = rpmDay(e.time);
    return { version, heading: `* ${day} ${name}`, changes: capText(e.text), byline: `${author}  ${day}` };
  });
}

/** The changelog of one RPM file (a regular file, not a symlink), read with `rpm -qp`; undefined when it cannot be read. */
export function rpmChangelog(file: string, rpm = 'rpm'): ChangelogEntry[] | undefined {
  try {
    if (!fs.lstatSync(file).isFile()) return undefined;
  } catch {
    return undefined;
  }
  let out: string;
  try {
    out = execFileSync(rpm, ['-qp', '--qf', CHANGELOG_QUERY_FORMAT, '--', file], {
      encoding: 'utf8', maxBuffer: MAX_OUTPUT, timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C.UTF-8' },
    });
  } catch {
    return undefined; // no rpm on this host, not an RPM, or a changelog over MAX_OUTPUT
  }
  try {
    return altChangelogEntries(parseChangelogQuery(out));
  } catch {
    return undefined;
  }
}

/** A package's RPM file name in hasher's and the mirror's layout; undefined for names that are not plain. */
export function rpmFileOf(p: { name: string; version: string; arch?: string }): string | undefined {
  const verrel = p.version.replace(/^\d+:/, '');
  const file = `${p.name}-${verrel}.${p.arch ?? ''}.rpm`;
  if (!p.arch || file.includes('/') || file.includes('\0') || p.name.startsWith('.') || !/^[^-]+-[^-]+$/.test(verrel)) return undefined;
  return file;
}

/** One side of a comparison and the directories its RPM files are in (hasher's repo of its partner builds, a local mirror). */
export interface RpmSide {
  side: Pick<ChangeSide, 'packages'>;
  dirs: readonly string[];
}

/** Changelogs from the RPM files of `sides` found in their directories: the one with the most entries tells the most. */
export function rpmDirChangelogs(sides: readonly RpmSide[], rpm = 'rpm'): ChangelogLookup {
  const cache = new Map<string, readonly ChangelogEntry[] | undefined>();
  return (name) => {
    if (cache.has(name)) return cache.get(name);
    let found: readonly ChangelogEntry[] | undefined;
    for (const { side, dirs } of sides) {
      const p = side.packages?.find((x) => x.name === name);
      const file = p && rpmFileOf(p);
      if (!file) continue;
      for (const dir of dirs) {
        const entries = rpmChangelog(path.join(dir, file), rpm);
        if (entries && (!found || entries.length > found.length)) found = entries;
      }
    }
    cache.set(name, found);
    return found;
  };
}

/** Where the RPM files built for a lock are (resolve's outputs: hasher's repo layout). */
export function altRpmDir(lockDir: string, arch: string): string {
  return path.join(lockDir, PARTNER_REPO, arch, 'RPMS.hasher');
}

/**
 * The lookup for two alt sides: each side's own RPM directories, then those the host names in
 * SBORKA_ALT_RPM_DIRS (colon-separated, e.g. a local mirror's RPMS.classic or hasher's cache),
 * which hold the mirror's packages that resolve does not keep.
 */
export function altChangelogs(sides: readonly ChangeSide[], env: NodeJS.ProcessEnv = process.env): ChangelogLookup {
  const extra = (env.SBORKA_ALT_RPM_DIRS ?? '').split(':').filter((d) => path.isAbsolute(d));
  return rpmDirChangelogs(sides.map((side) => ({ side, dirs: [...(side.rpmDirs ?? []), ...extra] })), 'rpm');
}
