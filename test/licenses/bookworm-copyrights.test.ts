// Real copyright files of bookworm packages that products/debian/minimal used to send to a
// person (fixtures/bookworm: each file as the package installs it, and its dpkg status
// paragraph), judged by the license step's own extraction and the product's own policy.
// Each was asked about for a reason that is not a question: a Debian short name whose text
// is an SPDX license with its holder's name in SPDX's name slots, a dashed name of known
// parts, a grant under 20 words, a free license the policy had not listed yet.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { extractDebian } from '../../activities/licenses';
import { loadPlans } from '../../cli/load-plan';
import { parseCopyright } from '../../licenses/debian';
import { Policy, type InstalledPackage } from '../../licenses/model';
import { evaluatePackages } from '../../licenses/policy';
import { identifyLicenseText, licensecheckVariants } from '../../licenses/text-match';
import { runChecked } from '../../activities/process-runner';
import { makeTmpDir, removeDir, silentLogger } from '../activities/helpers';

const FIXTURES = path.join(__dirname, 'fixtures', 'bookworm');
const RECIPE = path.join(__dirname, '..', '..', 'products', 'debian', 'minimal.sborka');
const PACKAGES = ['util-linux', 'debianutils', 'libgpg-error0', 'libmd0', 'libbsd0', 'libnsl2', 'sensible-utils', 'libkrb5-3'];

function minimalPolicy(): Policy {
  const sink = new PassThrough();
  const [plan] = loadPlans(RECIPE, { stdout: sink, stderr: sink, cwd: process.cwd() }, { product: 'debian-minimal', arches: ['x86_64'] });
  const step = plan!.variants[0]!.steps.find((s) => s.kind === 'verify-licenses')!;
  return Policy.parse((step.params as { policy: unknown }).policy);
}

let dir: string;
let installed: InstalledPackage[];
const policy = minimalPolicy();

beforeAll(async () => {
  dir = makeTmpDir('sborka-lic-bookworm-');
  fs.mkdirSync(path.join(dir, 'var/lib/dpkg'), { recursive: true });
  fs.copyFileSync(path.join(FIXTURES, 'status'), path.join(dir, 'var/lib/dpkg/status'));
  for (const p of PACKAGES) {
    fs.mkdirSync(path.join(dir, 'usr/share/doc', p), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, `${p}.copyright`), path.join(dir, 'usr/share/doc', p, 'copyright'));
  }
  // licensecheck reads krb5's free-form file, as in the step.
  const ctx = {
    step: { id: 'verify-licenses' } as never, signal: new AbortController().signal, progress: () => undefined,
    run: (argv: readonly string[], o: { onLine?: (l: string, s: 'stdout' | 'stderr') => void } = {}) =>
      runChecked({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, cwd: dir, logPath: path.join(dir, 'step.log'), attempt: 1, logger: silentLogger, onLine: o.onLine }),
  };
  installed = await extractDebian(ctx, dir);
});
afterAll(() => dir && removeDir(dir));

const judged = (p: readonly InstalledPackage[] = installed, pol: Policy = policy) => new Map(evaluatePackages(p, pol, { date: '2026-12-02' }).packages.map((r) => [r.package.name, r]));
const identified = (name: string) => installed.find((p) => p.name === name)?.identified ?? {};

it('reads every fixture as the package it is', () => {
  expect(installed.map((p) => p.name).sort()).toEqual([...PACKAGES].sort());
  for (const p of installed) expect([p.name, p.licenseSource]).toEqual([p.name, p.name === 'libkrb5-3' ? 'unparsed' : 'dep5']);
});

it('identifies the short names by their texts, holders in the name slots', () => {
  expect(identified('util-linux')).toMatchObject({ BSLA: 'BSD-4.3TAHOE' });
  expect(identified('libgpg-error0')).toMatchObject({ 'g10-permissive': 'FSFULLRWD' });
  // "The name of the author may not be used to endorse" is BSD's endorsement clause with a holder's name.
  expect(identified('libbsd0')).toMatchObject({ 'BSD-4-clause-Niels-Provos': 'BSD-4-Clause', 'BSD-3-clause-author': 'BSD-3-Clause' });
  // autoconf's 19-word grant is a text, not a pointer.
  expect(identified('libnsl2')).toMatchObject({ 'permissive-configure': 'FSFUL' });
  expect(identified('sensible-utils')).toMatchObject({ configure: 'FSFUL' });
});

it('allows the packages the names alone sent to a person, by the product policy', () => {
  const r = judged();
  for (const name of ['util-linux', 'debianutils', 'libgpg-error0', 'libmd0', 'libbsd0', 'libnsl2', 'libkrb5-3']) {
    expect([name, r.get(name)?.status, r.get(name)?.because]).toEqual([name, 'allow', expect.anything()]);
  }
  // Dashed names of known parts, and SPDX's deprecated BSD-2-Clause-NetBSD as the BSD-2-Clause it is.
  expect(r.get('libnsl2')!.licenses).toEqual(expect.arrayContaining(['GPL-2.0-or-later WITH Autoconf-exception-2.0', 'GPL-3.0-or-later WITH Autoconf-exception-3.0', 'GPL-2.0-or-later WITH Libtool-exception']));
  expect(r.get('libmd0')!.licenses).toContain('BSD-2-Clause');
  expect(r.get('libmd0')!.licenses).not.toContain('BSD-2-Clause-NetBSD');
});

it("still asks about install-sh's X11 text: words broken across lines and an FSF trailer SPDX's X11 lacks", () => {
  const s = judged().get('sensible-utils')!;
  expect(s.status).toBe('review');
  expect(s.because.map((b) => b.license)).toEqual(['LicenseRef-unknown-installsh']);
});

it('asks again when the policy does not list the licenses the maintainers allowed', () => {
  const bare = { ...policy, allow: policy.allow.filter((l) => !['BSD-4.3TAHOE', 'SMAIL-GPL', 'FSFULLRWD', 'FSFUL'].includes(l)) };
  const r = judged(installed, bare);
  expect(r.get('util-linux')?.status).toBe('review');
  expect(r.get('debianutils')?.status).toBe('review');
  expect(r.get('libgpg-error0')?.status).toBe('review');
});

describe('a name slot is a name, not a condition', () => {
  const paragraphs = parseCopyright(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\nLicense: BSD-4-clause-POWERDOG\n\n${fs.readFileSync(path.join(FIXTURES, 'perl-bsd-paragraphs.copyright'), 'utf8')}`);
  const texts = paragraphs.kind === 'dep5' ? paragraphs.texts : {};

  it("matches perl's BSD texts (Powerdog Industries, the authors) to SPDX's", () => {
    expect(identifyLicenseText(texts['BSD-4-clause-POWERDOG']!, 'BSD-4-clause-POWERDOG')?.id).toBe('BSD-4-Clause');
    expect(identifyLicenseText(texts['BSD-3-clause-GENERIC']!, 'BSD-3-clause-GENERIC')?.id).toBe('BSD-3-Clause');
  });

  it('does not match when the slot carries a restriction or the clause is dropped', () => {
    const generic = texts['BSD-3-clause-GENERIC']!;
    const restricted = generic.replace('The names of the authors may not', 'The names of the authors and no commercial user may not');
    expect(restricted).not.toBe(generic);
    expect(identifyLicenseText(restricted)?.id).not.toBe('BSD-3-Clause');
    const noEndorsement = generic.replace(/3\. The names of the authors[\s\S]*?permission\.\n/, '');
    expect(noEndorsement).not.toBe(generic);
    expect(identifyLicenseText(noEndorsement)?.id).not.toBe('BSD-3-Clause');
    const liable = generic.replace('IN NO EVENT SHALL THE AUTHOR OR CONTRIBUTORS BE LIABLE', 'IN NO EVENT SHALL THE AUTHOR UNLESS PAID BE LIABLE');
    expect(identifyLicenseText(liable)?.id).not.toBe('BSD-3-Clause');
  });
});

describe("licensecheck's family~variant names", () => {
  const krb5 = fs.readFileSync(path.join(FIXTURES, 'libkrb5-3.copyright'), 'utf8');

  it('become the SPDX license whose text the free-form file carries', () => {
    const guess = installed.find((p) => p.name === 'libkrb5-3')!.guess!;
    expect(guess).toContain('OpenVision');
    expect(guess).not.toContain('~');
    expect(licensecheckVariants('BSD-2-clause and/or MIT~OpenVision', krb5)).toBe('BSD-2-clause and/or OpenVision');
  });

  it('stay unknown when the text is not there, or says something else', () => {
    expect(licensecheckVariants('MIT~OpenVision', 'Permission to use this file is granted.')).toBe('MIT~OpenVision');
    const changed = krb5.replace('You may freely use and distribute the Source Code', 'You may use the Source Code for non-commercial purposes only');
    expect(changed).not.toBe(krb5);
    expect(licensecheckVariants('MIT~OpenVision', changed)).toBe('MIT~OpenVision');
    // A file of a million empty paragraphs ends the search at its bound, the text after it unread.
    const hostile = `${'x\n\n'.repeat(1_000_000)}${krb5}`;
    expect(licensecheckVariants('MIT~OpenVision', hostile)).toBe('MIT~OpenVision');
    // Nor does one sentence of the text, repeated: a passage must be the whole text.
    expect(licensecheckVariants('MIT~OpenVision', 'You may freely use and distribute the Source Code\n\n'.repeat(50_000))).toBe('MIT~OpenVision');
    // A variant that is no SPDX id (gcc's MIT~OSF) is left as licensecheck wrote it.
    expect(licensecheckVariants('MIT~OSF and/or Zlib', krb5)).toBe('MIT~OSF and/or Zlib');
  });
});
