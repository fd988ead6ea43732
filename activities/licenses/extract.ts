// Extraction of every installed package's license from an unpacked root.
// Debian: the dpkg status file, then /usr/share/doc/<package>/copyright of each package
// (DEP-5 files give their License: lines, and the short names SPDX does not know are
// identified by the license texts the file carries; free-form files are kept verbatim and
// read by licensecheck; a short file that points at another package's is followed). RPM: `rpm --root <root> -qa --queryformat ...`.
import * as path from 'node:path';
import { gfdlWithoutInvariants, parseCopyright, parseDpkgStatus } from '../../licenses/debian';
import { RAW_TEXT_LIMIT, type InstalledPackage } from '../../licenses/model';
import { normalizeLicense } from '../../licenses/normalize';
import { identifyLicenseText, licensecheckVariants, type TextMatch } from '../../licenses/text-match';
import { parseRpmDump, RPM_QUERY_FORMAT, RpmDumpError } from '../../licenses/rpm-dump';
import { badInput } from '../failures';
import type { KindContext } from '../kinds/registry';
import { readInRoot, resolveInRoot } from './root-source';

type Runner = Pick<KindContext, 'run' | 'progress' | 'step' | 'signal'>;

export async function extractDebian(ctx: Runner, root: string): Promise<InstalledPackage[]> {
  const status = await readInRoot(root, 'var/lib/dpkg/status');
  if (status === undefined) throw badInput(`step "${ctx.step.id}": the root has no var/lib/dpkg/status`);
  const installed = parseDpkgStatus(status);
  const packages: InstalledPackage[] = [];
  // Host path of a free-form file -> its packages (doc directories linked to another's share one).
  const unparsed = new Map<string, InstalledPackage[]>();
  for (const p of installed) {
    const base = { name: p.name, version: p.version, arch: p.arch, source: p.source, flavour: 'debian' as const, ...(p.maintainer ? { supplier: p.maintainer } : {}) };
    const found = await copyrightOf(root, p.name);
    if (found === undefined) {
      packages.push({ ...base, declared: [], origin: `/usr/share/doc/${p.name}/copyright (absent)`, licenseSource: 'missing' });
      continue;
    }
    const { rel, text, origin } = found;
    const reading = parseCopyright(text);
    if (reading.kind === 'dep5') {
      const identified = identifyTexts(reading.texts);
      packages.push({ ...base, declared: reading.licenses, origin: `${origin} (DEP-5)`, licenseSource: 'dep5', ...(identified ? { identified } : {}) });
    } else {
      const pkg: InstalledPackage = { ...base, declared: [], origin: `${origin} (${reading.reason})`, licenseSource: 'unparsed', raw: text.slice(0, RAW_TEXT_LIMIT) };
      // A file that is one license's text and nothing else names it by that text.
      const whole = cachedIdentify(text);
      if (whole) pkg.guess = whole.id;
      packages.push(pkg);
      const host = await resolveInRoot(root, rel);
      if (host && !whole && readableByLicensecheck(text)) unparsed.set(host, [...(unparsed.get(host) ?? []), pkg]);
    }
  }
  if (unparsed.size > 0) await guessWithLicensecheck(ctx, unparsed);
  return packages;
}

/** Debian's largest copyright files are about 1 MiB with short lines; licensecheck's regexes take minutes on a multi-megabyte line. */
const LICENSECHECK_MAX_BYTES = 4 * 1024 * 1024;
const LICENSECHECK_MAX_LINE = 16 * 1024;

/** A file outside these limits is no copyright file a packager wrote: a person reads it. */
function readableByLicensecheck(text: string): boolean {
  if (text.length > LICENSECHECK_MAX_BYTES) return false;
  for (let start = 0; start < text.length;) {
    const end = text.indexOf('\n', start);
    const stop = end < 0 ? text.length : end;
    if (stop - start > LICENSECHECK_MAX_LINE) return false;
    start = stop + 1;
  }
  return true;
}

/** "see /usr/share/doc/X/copyright" in a short file: the package keeps its license with X. */
const POINTER = /\bsee\s+(?:the\s+file\s+)?\/usr\/share\/doc\/([a-z0-9][a-z0-9.+-]*)\/copyright\b/i;

/** A package's copyright file, following a pointer to another package's (one hop). */
async function copyrightOf(root: string, name: string): Promise<{ rel: string; text: string; origin: string } | undefined> {
  const rel = `usr/share/doc/${name}/copyright`;
  const text = await readInRoot(root, rel);
  if (text === undefined) return undefined;
  const m = text.length < 4096 ? POINTER.exec(text) : null;
  if (m && m[1] !== name) {
    const otherRel = `usr/share/doc/${m[1]}/copyright`;
    const other = await readInRoot(root, otherRel);
    if (other !== undefined) return { rel: otherRel, text: other, origin: `/${rel} → /${otherRel}` };
  }
  return { rel, text, origin: `/${rel}` };
}

const identifiedTexts = new Map<string, TextMatch | undefined>();
/** Text identification is the expensive part; the same texts recur across a source's binaries. */
function cachedIdentify(text: string, hint?: string): TextMatch | undefined {
  const k = `${hint ?? ''}\u0000${text}`;
  if (!identifiedTexts.has(k)) identifiedTexts.set(k, identifyLicenseText(text, hint));
  return identifiedTexts.get(k);
}

/** The short names nothing else recognises whose own text in the file matches an SPDX license. */
function identifyTexts(texts: Record<string, string>): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(texts)) {
    if (normalizeLicense(name, 'debian').unknown.length === 0) continue;
    const m = cachedIdentify(text, name);
    if (m) out[name] = m.id;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** licensecheck's reading of the free-form files, as the reviewer's hint ("UNKNOWN" gives none). */
async function guessWithLicensecheck(ctx: Runner, files: Map<string, InstalledPackage[]>): Promise<void> {
  ctx.progress({ phase: 'licensecheck', lastLine: `${files.size} free-form copyright files` });
  const guesses = new Map<string, string>();
  await ctx.run(['licensecheck', '--machine', '--shortname-scheme=debian,spdx', '--lines=0', '--', ...files.keys()], {
    onLine: (line, stream) => {
      if (stream !== 'stdout') return;
      const tab = line.lastIndexOf('\t');
      if (tab > 0) guesses.set(line.slice(0, tab), line.slice(tab + 1).trim());
    },
  });
  for (const [file, pkgs] of files) {
    const guess = guesses.get(file);
    if (!guess || guess === 'UNKNOWN' || guess === '*No copyright* UNKNOWN') continue;
    for (const pkg of pkgs) pkg.guess = gfdlWithoutInvariants(licensecheckVariants(guess.replace(/^\*No copyright\*\s*/, ''), pkg.raw ?? ''), pkg.raw ?? '');
  }
}

/** The RPM database of the root, through the host's rpm (or another query program, e.g. hsh-run on ALT hosts). */
export async function extractRpm(ctx: Runner, root: string, queryArgv?: readonly string[]): Promise<InstalledPackage[]> {
  const argv = queryArgv ?? ['rpm', `--root=${path.resolve(root)}`, '--dbpath=/var/lib/rpm', '-qa', `--queryformat=${RPM_QUERY_FORMAT}`];
  const lines: string[] = [];
  ctx.progress({ phase: 'rpm query' });
  await ctx.run(argv, { onLine: (line, stream) => stream === 'stdout' && lines.push(line) });
  try {
    return parseRpmDump(lines.join('\n'));
  } catch (err) {
    if (err instanceof RpmDumpError) throw badInput(`step "${ctx.step.id}": ${err.message}`);
    throw err;
  }
}
