// The installed packages of an RPM root, read from `rpm -qa --qf RPM_QUERY_FORMAT` output
// (run directly with --root, or inside the root through hsh-run on ALT hosts). One line per
// package, tab-separated; rpm prints "(none)" for an absent tag.
import type { InstalledPackage } from './model';

export const RPM_QUERY_FIELDS = ['NAME', 'EPOCH', 'VERSION', 'RELEASE', 'ARCH', 'SOURCERPM', 'LICENSE', 'VENDOR', 'PACKAGER'] as const;

/** The --queryformat argument: the fields above, tab-separated, one package a line. */
export const RPM_QUERY_FORMAT = `${RPM_QUERY_FIELDS.map((f) => `%{${f}}`).join('\\t')}\\n`;

export class RpmDumpError extends Error {}

const none = (v: string | undefined) => (v === undefined || v === '(none)' || v === '' ? undefined : v);

/** Parses the dump; a line with the wrong number of fields is an error naming its line number. */
export function parseRpmDump(text: string): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo += 1;
    if (line === '') continue;
    const f = line.split('\t');
    if (f.length !== RPM_QUERY_FIELDS.length) {
      throw new RpmDumpError(`rpm query line ${lineNo}: expected ${RPM_QUERY_FIELDS.length} tab-separated fields, got ${f.length}: ${JSON.stringify(line.slice(0, 200))}`);
    }
    const [name, epoch, version, release, arch, sourceRpm, license, vendor, packager] = f as [string, string, string, string, string, string, string, string, string];
    // gpg-pubkey entries are keys in the database, not software.
    if (name === 'gpg-pubkey') continue;
    const lic = none(license);
    const source = none(sourceRpm)?.replace(/\.src\.rpm$/, '');
    packages.push({
      name,
      version,
      ...(none(release) ? { release } : {}),
      ...(none(epoch) ? { epoch } : {}),
      arch: none(arch) ?? 'noarch',
      ...(source ? { source } : {}),
      declared: lic ? [lic] : [],
      origin: 'rpm LICENSE tag',
      licenseSource: lic ? 'rpm-tag' : 'missing',
      ...(none(vendor) ?? none(packager) ? { supplier: none(vendor) ?? none(packager) } : {}),
      flavour: 'rpm',
    });
  }
  return packages;
}
