// Extraction of every installed package's license from an unpacked root.
// Debian: the dpkg status file, then /usr/share/doc/<package>/copyright of each package
// (DEP-5 files give their License: lines; free-form files are kept verbatim and read by
// licensecheck for a hint). RPM: `rpm --root <root> -qa --queryformat ...`.
import * as path from 'node:path';
import { parseCopyright, parseDpkgStatus } from '../../licenses/debian';
import { RAW_TEXT_LIMIT, type InstalledPackage } from '../../licenses/model';
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
  const unparsed = new Map<string, InstalledPackage>(); // host path of the file -> package
  for (const p of installed) {
    const rel = `usr/share/doc/${p.name}/copyright`;
    const base = { name: p.name, version: p.version, arch: p.arch, source: p.source, flavour: 'debian' as const, ...(p.maintainer ? { supplier: p.maintainer } : {}) };
    const text = await readInRoot(root, rel);
    if (text === undefined) {
      packages.push({ ...base, declared: [], origin: `/${rel} (absent)`, licenseSource: 'missing' });
      continue;
    }
    const reading = parseCopyright(text);
    if (reading.kind === 'dep5') {
      packages.push({ ...base, declared: reading.licenses, origin: `/${rel} (DEP-5)`, licenseSource: 'dep5' });
    } else {
      const pkg: InstalledPackage = { ...base, declared: [], origin: `/${rel} (${reading.reason})`, licenseSource: 'unparsed', raw: text.slice(0, RAW_TEXT_LIMIT) };
      packages.push(pkg);
      const host = await resolveInRoot(root, rel);
      if (host) unparsed.set(host, pkg);
    }
  }
  if (unparsed.size > 0) await guessWithLicensecheck(ctx, unparsed);
  return packages;
}

/** licensecheck's reading of the free-form files, as the reviewer's hint ("UNKNOWN" gives none). */
async function guessWithLicensecheck(ctx: Runner, files: Map<string, InstalledPackage>): Promise<void> {
  ctx.progress({ phase: 'licensecheck', lastLine: `${files.size} free-form copyright files` });
  const guesses = new Map<string, string>();
  await ctx.run(['licensecheck', '--machine', '--shortname-scheme=debian,spdx', '--lines=0', '--', ...files.keys()], {
    onLine: (line, stream) => {
      if (stream !== 'stdout') return;
      const tab = line.lastIndexOf('\t');
      if (tab > 0) guesses.set(line.slice(0, tab), line.slice(tab + 1).trim());
    },
  });
  for (const [file, pkg] of files) {
    const guess = guesses.get(file);
    if (guess && guess !== 'UNKNOWN' && guess !== '*No copyright* UNKNOWN') pkg.guess = guess.replace(/^\*No copyright\*\s*/, '');
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
