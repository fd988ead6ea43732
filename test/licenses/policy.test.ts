import type { InstalledPackage, PolicyInput } from '../../licenses/model';
import { Policy } from '../../licenses/model';
import { compilePolicy, evaluatePackages, judgeText, PolicyError, type Status } from '../../licenses/policy';

// products/common/alt-base.sborka's free-software policy, plus a few entries the cases need.
const base: PolicyInput = {
  name: 'free-software',
  allow: ['GPL-1.0-or-later', 'GPL-2.0-only', 'GPL-2.0-or-later', 'GPL-3.0-only', 'GPL-3.0-or-later', 'LGPL-2.0-or-later', 'LGPL-2.1-only', 'LGPL-2.1-or-later',
    'LGPL-3.0-or-later', 'MIT', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC', 'Apache-2.0', 'Zlib', 'Artistic-1.0-Perl', 'LicenseRef-ALT-Public-Domain', 'MPL-1.1'],
  review: ['MPL-2.0', 'EPL-2.0', 'CDDL-1.0', 'OFL-1.1'],
  deny: ['LicenseRef-proprietary', 'SSPL-1.0'],
  unknown: 'review',
};
const policy = (over: Partial<PolicyInput> = {}) => Policy.parse({ ...base, ...over });
const gplDenied = policy({ allow: ['MIT', 'ISC'], deny: ['GPL-2.0-only', 'GPL-3.0-only', 'LicenseRef-proprietary'] });
const denyUnknown = policy({ unknown: 'deny' });
const allowUnknown = policy({ unknown: 'allow' });
const exceptionListed = policy({ allow: ['MIT'], deny: ['GPL-2.0-or-later'], review: ['GPL-2.0-or-later WITH Classpath-exception-2.0'] });
const exceptionAllowed = policy({ allow: ['GPL-2.0-or-later WITH Classpath-exception-2.0'], deny: ['GPL-2.0-or-later'] });

const CASES: Array<[string, string, ReturnType<typeof policy>, Status]> = [
  ['allowed id', 'MIT', policy(), 'allow'],
  ['allowed id, other case', 'mit', policy(), 'allow'],
  ['review list', 'MPL-2.0', policy(), 'review'],
  ['deny list', 'LicenseRef-proprietary', policy(), 'deny'],
  ['deny list SPDX id', 'SSPL-1.0', policy(), 'deny'],
  ['unknown id under unknown review', 'CC-BY-4.0', policy(), 'review'],
  ['unknown id under deny-unknown', 'CC-BY-4.0', denyUnknown, 'deny'],
  ['unknown id under allow-unknown', 'CC-BY-4.0', allowUnknown, 'allow'],
  ['unmapped LicenseRef-unknown under deny-unknown', 'LicenseRef-unknown-Vendor-EULA', denyUnknown, 'deny'],
  ['unmapped LicenseRef-unknown under review', 'LicenseRef-unknown-Vendor-EULA', policy(), 'review'],
  ['GPL-2.0-only OR MIT with GPL denied', 'GPL-2.0-only OR MIT', gplDenied, 'allow'],
  ['MIT OR GPL-2.0-only with GPL denied', 'MIT OR GPL-2.0-only', gplDenied, 'allow'],
  ['GPL-2.0-only AND MIT with GPL denied', 'GPL-2.0-only AND MIT', gplDenied, 'deny'],
  ['GPL-2.0-or-later AND LicenseRef-proprietary', 'GPL-2.0-or-later AND LicenseRef-proprietary', policy(), 'deny'],
  ['GPL-2.0-or-later OR LicenseRef-proprietary', 'GPL-2.0-or-later OR LicenseRef-proprietary', policy(), 'allow'],
  ['both sides denied', 'GPL-2.0-only OR GPL-3.0-only', gplDenied, 'deny'],
  ['deny OR review gives review', 'LicenseRef-proprietary OR MPL-2.0', policy(), 'review'],
  ['allow AND review gives review', 'MIT AND MPL-2.0', policy(), 'review'],
  ['review AND deny gives deny', 'MPL-2.0 AND SSPL-1.0', policy(), 'deny'],
  ['nested: (deny OR allow) AND allow', '(SSPL-1.0 OR MIT) AND ISC', policy(), 'allow'],
  ['nested: (deny OR review) AND allow', '(SSPL-1.0 OR MPL-2.0) AND ISC', policy(), 'review'],
  ['nested: deny OR (allow AND deny)', 'SSPL-1.0 OR (MIT AND LicenseRef-proprietary)', policy(), 'deny'],
  ['nested: deny OR (allow AND allow)', 'SSPL-1.0 OR (MIT AND ISC)', policy(), 'allow'],
  ['precedence: allow OR allow AND deny', 'MIT OR ISC AND SSPL-1.0', policy(), 'allow'],
  ['precedence: deny OR allow AND deny', 'SSPL-1.0 OR ISC AND SSPL-1.0', policy(), 'deny'],
  ['WITH exception, base allowed', 'GPL-2.0-or-later WITH Classpath-exception-2.0', policy(), 'allow'],
  ['WITH exception, base denied, exact entry in review', 'GPL-2.0-or-later WITH Classpath-exception-2.0', exceptionListed, 'review'],
  ['WITH exception, base denied, exact entry allowed', 'GPL-2.0-or-later WITH Classpath-exception-2.0', exceptionAllowed, 'allow'],
  ['base without the exception stays denied', 'GPL-2.0-or-later', exceptionAllowed, 'deny'],
  ['other exception falls back to the base rule', 'GPL-2.0-or-later WITH GCC-exception-3.1', exceptionAllowed, 'deny'],
  ['WITH exception of an unknown base', 'eCos-2.0 WITH Classpath-exception-2.0', policy(), 'review'],
  ['WITH exception under deny-unknown', 'GPL-2.0-or-later WITH Classpath-exception-2.0', denyUnknown, 'allow'],
  ['deprecated GPL-2.0+ is GPL-2.0-or-later', 'GPL-2.0+', policy(), 'allow'],
  ['deprecated GPL-2.0 is GPL-2.0-only', 'GPL-2.0', gplDenied, 'deny'],
  ['"+" is met by an entry for the base version', 'MPL-1.1+', policy(), 'allow'],
  ['-or-later is not met by -only', 'LGPL-3.0-or-later', policy({ allow: ['LGPL-3.0-only'] }), 'review'],
  ['deny beats allow when both list it', 'MIT', policy({ allow: ['MIT'], deny: ['MIT'] }), 'deny'],
  ['review beats allow when both list it', 'MIT', policy({ allow: ['MIT'], review: ['MIT'] }), 'review'],
  ['three-way OR picks the best', 'SSPL-1.0 OR MPL-2.0 OR Apache-2.0', policy(), 'allow'],
  ['three-way AND picks the worst', 'MIT AND MPL-2.0 AND ISC', policy(), 'review'],
  ['LicenseRef allowed by name', 'LicenseRef-ALT-Public-Domain', policy(), 'allow'],
  ['DocumentRef LicenseRef is unknown', 'DocumentRef-x:LicenseRef-y', policy(), 'review'],
  ['OR with unknown and deny under deny-unknown', 'CC-BY-4.0 OR SSPL-1.0', denyUnknown, 'deny'],
  ['OR with unknown and allow under deny-unknown', 'CC-BY-4.0 OR MIT', denyUnknown, 'allow'],
];

describe('policy evaluation', () => {
  it('has at least 40 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(40));

  it.each(CASES)('%s: %s', (_name, expression, p, expected) => {
    expect(judgeText(expression, p).status).toBe(expected);
  });

  it('names the rule that decided', () => {
    const j = judgeText('GPL-2.0-or-later AND LicenseRef-proprietary AND SSPL-1.0', policy());
    expect(j.because).toEqual([
      { license: 'LicenseRef-proprietary', status: 'deny', rule: 'deny LicenseRef-proprietary' },
      { license: 'SSPL-1.0', status: 'deny', rule: 'deny SSPL-1.0' },
    ]);
    expect(judgeText('LicenseRef-unknown-EULA', denyUnknown).because[0]!.rule).toBe('unknown deny (not recognised as an SPDX license)');
  });

  it('refuses a policy naming a license that does not exist', () => {
    expect(() => compilePolicy(policy({ allow: ['GPLv2+'] }))).toThrow(PolicyError);
    expect(() => compilePolicy(policy({ allow: ['MIT OR ISC'] }))).toThrow(/single licenses/);
  });
});

const pkg = (name: string, declared: string[], over: Partial<InstalledPackage> = {}): InstalledPackage => ({
  name, version: '1.0', release: 'alt1', arch: 'x86_64', declared, origin: 'rpm LICENSE tag', licenseSource: 'rpm-tag', flavour: 'rpm', ...over,
});

describe('package verdicts and waivers', () => {
  const packages = [
    pkg('bash', ['GPLv3+']),
    pkg('acme-agent', ['Proprietary']),
    pkg('firefox-esr', ['MPLv2.0']),
    pkg('zlib', ['zlib']),
  ];
  const waiver = { package: 'acme-agent', owner: 'partner acme', reason: 'agreement 2025-17 covers redistribution', until: '2026-12-31' };

  it('fails on a denied package, naming it', () => {
    const e = evaluatePackages(packages, policy(), { date: '2026-01-10' });
    expect(e.verdict).toBe('fail');
    expect(e.packages.filter((p) => p.status === 'deny').map((p) => p.package.name)).toEqual(['acme-agent']);
  });

  it('a waiver before its expiry lets the package pass (review remains for MPL-2.0)', () => {
    const e = evaluatePackages(packages, policy({ waivers: [waiver] }), { date: '2026-12-31' });
    expect(e.verdict).toBe('review');
    const acme = e.packages.find((p) => p.package.name === 'acme-agent')!;
    expect(acme).toMatchObject({ status: 'waived', policyStatus: 'deny', waiver: { ...waiver, expired: false } });
  });

  it('an expired waiver no longer applies', () => {
    const e = evaluatePackages(packages, policy({ waivers: [waiver] }), { date: '2027-01-01' });
    expect(e.verdict).toBe('fail');
    expect(e.packages.find((p) => p.package.name === 'acme-agent')).toMatchObject({ status: 'deny', waiver: { expired: true } });
    expect(e.unusedWaivers).toEqual([]);
  });

  it('passes when everything is allowed or waived, and lists waivers nobody needed', () => {
    const spare = { package: 'bash', owner: 'alt-releng', reason: 'not needed', until: '2030-01-01' };
    const e = evaluatePackages(packages, policy({ waivers: [waiver, spare, { ...waiver, package: 'firefox-esr' }] }), { date: '2026-06-01' });
    expect(e.verdict).toBe('pass');
    expect(e.unusedWaivers).toEqual([spare]);
  });

  it('a package with no license information follows the unknown rule', () => {
    const e = evaluatePackages([pkg('mystery', [], { licenseSource: 'missing' })], denyUnknown, { date: '2026-01-01' });
    expect(e.packages[0]).toMatchObject({ status: 'deny', expression: 'NOASSERTION' });
  });

  it('an unparsed copyright is judged by licensecheck\'s reading when it recognised every license, reviewed when it did not, denied when it guesses a denied one', () => {
    const deb = (name: string, guess?: string): InstalledPackage => ({ name, version: '1', arch: 'amd64', declared: [], origin: 'copyright', licenseSource: 'unparsed', ...(guess ? { guess } : {}), flavour: 'debian' });
    const e = evaluatePackages([deb('libc6', 'GPL-2+ and/or LGPL-2.1+'), deb('blob', 'SSPL-1.0'), deb('gcc', 'GPL-3+ and/or MIT~OSF'), deb('nothing')], policy(), { date: '2026-01-01' });
    expect(e.packages.map((p) => p.status)).toEqual(['allow', 'deny', 'review', 'review']);
    expect(e.packages[0]!.notes).toContain('read by licensecheck from the free-form copyright file: GPL-2+ and/or LGPL-2.1+');
    expect(e.packages[2]!.because[0]!.rule).toMatch(/copyright file is not machine-readable/);
  });

  it('ANDs every DEP-5 stanza of a package', () => {
    const p: InstalledPackage = { name: 'perl-base', version: '5.36', arch: 'amd64', declared: ['GPL-1+ or Artistic', 'Expat', 'SSPL-1.0'], origin: 'c', licenseSource: 'dep5', flavour: 'debian' };
    const [r] = evaluatePackages([p], policy(), { date: '2026-01-01' }).packages;
    expect(r).toMatchObject({ expression: '(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT AND SSPL-1.0', status: 'deny' });
  });

  it('merges license-verificator verdicts: they can only make a package stricter', () => {
    const e = evaluatePackages(packages, policy(), {
      date: '2026-01-01',
      external: [{ package: 'bash', verdict: 'fail', comment: 'license text missing' }, { package: 'acme-agent', verdict: 'pass', comment: '' }],
    });
    expect(e.packages.find((p) => p.package.name === 'bash')).toMatchObject({ status: 'deny', because: [{ rule: 'license-verificator fail: license text missing' }] });
    expect(e.packages.find((p) => p.package.name === 'acme-agent')!.status).toBe('deny');
  });
});
