// Real .deb files for the changes tests, made with dpkg-deb: a control file and a
// gzipped changelog.Debian with one entry per version up to the package's own.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

/** debian/changelog text with an entry per version, newest first. */
export function changelogText(name: string, versions: readonly string[]): string {
  return versions
    .map((v, i) => `${name} (${v}) unstable; urgency=medium\n\n  * Change ${i + 1} of ${name}: made ${v}.\n\n -- Sborka Tests <tests@sborka.invalid>  Mon, 0${(i % 9) + 1} Jan 2024 12:00:00 +0000\n`)
    .reverse()
    .join('\n');
}

/** `<name>_<version>_<arch>.deb` in `dir` (apt's file name: an epoch's colon as %3a), its changelog holding `history` (oldest first, ending with `version`). */
export function makeDeb(dir: string, name: string, version: string, history: readonly string[], arch = 'amd64'): string {
  const root = fs.mkdtempSync(path.join(dir, `${name}-`));
  fs.mkdirSync(path.join(root, 'DEBIAN'));
  fs.writeFileSync(path.join(root, 'DEBIAN', 'control'), [
    `Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, 'Maintainer: Sborka Tests <tests@sborka.invalid>', `Description: ${name} for the changes test`, '',
  ].join('\n'));
  const doc = path.join(root, 'usr', 'share', 'doc', name);
  fs.mkdirSync(doc, { recursive: true });
  fs.writeFileSync(path.join(doc, 'changelog.Debian.gz'), gzipSync(changelogText(name, history)));
  const deb = path.join(dir, `${name}_${version.replace(/:/g, '%3a')}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', root, deb], { stdio: 'pipe' });
  fs.rmSync(root, { recursive: true, force: true });
  return deb;
}

export interface Pkg { name: string; version: string }

/** A lock as `resolve` writes it (activities/debian/lock.ts), with these packages. */
export function lockOf(packages: readonly Pkg[], arch = 'x86_64'): string {
  return `${JSON.stringify({
    lockVersion: 1, suite: 'bookworm', arch, debArch: 'amd64', mirror: 'http://deb.debian.org/debian',
    sources: [{ uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' }],
    sourceDateEpoch: 1700000000, requested: packages.map((p) => p.name), exclude: [],
    packages: packages.map((p) => ({ name: p.name, version: p.version, arch: 'amd64', source: p.name, sourceVersion: p.version, sha256: '0'.repeat(64), layer: 'product' })),
  }, null, 2)}\n`;
}

/** Last night: four packages; tonight: one added, one upgraded, one downgraded, one removed, one the same. */
export const BEFORE: Pkg[] = [
  { name: 'libkeep', version: '1.0-1' },
  { name: 'libup', version: '1.2-1' },
  { name: 'libdown', version: '2:3.0-2' },
  { name: 'libgone', version: '0.9-1' },
];
export const AFTER: Pkg[] = [
  { name: 'libkeep', version: '1.0-1' },
  { name: 'libup', version: '1.10~rc1-1' },
  { name: 'libdown', version: '2:3.0-1' },
  { name: 'libnew', version: '0.1-1' },
];
/** The debs the deb cache holds for both nights (libup's newer one knows 1.3-1 and 1.10~rc1-1). */
export function fillDebCache(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  makeDeb(dir, 'libup', '1.2-1', ['1.0-1', '1.2-1']);
  makeDeb(dir, 'libup', '1.10~rc1-1', ['1.0-1', '1.2-1', '1.3-1', '1.10~rc1-1']);
  makeDeb(dir, 'libdown', '2:3.0-2', ['2:2.9-1', '2:3.0-1', '2:3.0-2']);
  makeDeb(dir, 'libdown', '2:3.0-1', ['2:2.9-1', '2:3.0-1']);
}
