// RPM roots: a real RPM database made by rpmbuild + rpm --justdb here (ALT's own roots
// cannot be made on this host), read through the verify-licenses kind of the alt toolchain;
// and ALT's license-verificator, contract-tested with a fake executable.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import type { LicenseKindOptions } from '../../activities/licenses';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { StepStore, type StoreEntry } from '../../activities/store';
import { parseRpmDump, RPM_QUERY_FORMAT } from '../../licenses/rpm-dump';
import type { LicenseReport } from '../../licenses/report';
import { parseVerificatorOutput, renderVerificatorInput } from '../../licenses/verificator';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';

const PACKAGES: Array<[string, string]> = [
  ['bash', 'GPLv3+'],
  ['glibc-core', 'LGPLv2+ and LGPLv2+ with exceptions and GPLv2+'],
  ['zlib', 'zlib'],
  ['firefox-esr', 'MPLv2.0'],
  ['acme-agent', 'Proprietary'],
  ['perl-base', 'GPL or Artistic'],
];
const freeSoftware = {
  name: 'free-software',
  allow: ['GPL-2.0-or-later', 'GPL-3.0-or-later', 'LGPL-2.0-or-later', 'Zlib', 'Artistic-1.0-Perl', 'GPL-1.0-or-later'],
  review: ['MPL-2.0'],
  deny: ['LicenseRef-proprietary'],
  unknown: 'review',
};

let dir: string;
let config: Config;
let image: StoreEntry;

beforeAll(async () => {
  dir = makeTmpDir('sborka-lic-rpm-');
  config = testConfig(dir);
  const top = path.join(dir, 'rpmbuild');
  const spec = path.join(dir, 't.spec');
  fs.writeFileSync(spec, 'Name: %{pkgname}\nVersion: 1.0\nRelease: alt1\nSummary: t\nLicense: %{lic}\nBuildArch: noarch\nVendor: ALT Linux Team\n%description\nt\n%files\n');
  for (const [name, lic] of PACKAGES) execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', `pkgname ${name}`, '--define', `lic ${lic}`, spec], { stdio: 'ignore' });
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const rpm = (...args: string[]) => execFileSync('rpm', [`--root=${root}`, '--dbpath=/var/lib/rpm', ...args], { stdio: 'ignore' });
  rpm('--initdb');
  const rpms = fs.readdirSync(path.join(top, 'RPMS/noarch')).map((f) => path.join(top, 'RPMS/noarch', f));
  rpm('-i', '--nodeps', '--justdb', '--noscripts', ...rpms);
  const store = new StepStore(config.storeDir);
  const staging = await store.createStaging();
  execFileSync('tar', ['-C', root, '-cf', path.join(staging.outputsDir, 'alt-server-x86_64.tar'), '.']);
  image = await store.commit(staging, { kind: 'build', values: {} });
}, 120_000);
afterAll(() => removeDir(dir));

function run(policy: object, options: LicenseKindOptions = { verificator: null }): Promise<StepResult> {
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry({ licenses: options }) });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: 'b1', variantId: 'alt-server.x86_64.std',
    toolchain: { name: 'alt', version: '1' },
    step: { id: 'verify-licenses', kind: 'verify-licenses', needs: ['build-tar'], params: { toolchain: 'alt', branch: 'p11', arch: 'x86_64', policy } },
    inputs: { 'build-tar': image.key },
  }));
}

describe('RPM roots', () => {
  it('parses the query dump, dropping gpg-pubkey entries', () => {
    const dump = 'bash\t(none)\t5.2.37\talt1\tx86_64\tbash5-5.2.37-alt1.src.rpm\tGPLv3+\tALT Linux Team\t(none)\n'
      + 'gpg-pubkey\t(none)\tabcd\t1234\t(none)\t(none)\tpubkey\t(none)\t(none)\n';
    expect(parseRpmDump(dump)).toEqual([{ name: 'bash', version: '5.2.37', release: 'alt1', arch: 'x86_64', source: 'bash5-5.2.37-alt1', declared: ['GPLv3+'], origin: 'rpm LICENSE tag', licenseSource: 'rpm-tag', supplier: 'ALT Linux Team', flavour: 'rpm' }]);
    expect(() => parseRpmDump('bash\tGPL\n')).toThrow(/line 1: expected 9/);
    expect(RPM_QUERY_FORMAT).toBe('%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\t%{VENDOR}\\t%{PACKAGER}\\n');
  });

  it('fails on the proprietary package, naming it, from a real RPM database', async () => {
    const err = await run(freeSoftware).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'PolicyViolation', nonRetryable: true, details: [expect.objectContaining({ packages: ['acme-agent'] })] });
    expect((err as Error).message).toContain('acme-agent 1.0: Proprietary → LicenseRef-proprietary (LicenseRef-proprietary: deny LicenseRef-proprietary)');
  }, 60_000);

  it('reviews MPL-2.0 and reads every package with the ALT names normalised', async () => {
    const result = await run({ ...freeSoftware, deny: [], review: ['MPL-2.0', 'LicenseRef-proprietary'] });
    expect(result.outputs.values).toMatchObject({ verdict: 'review', packages: PACKAGES.length, review: ['acme-agent', 'firefox-esr'] });
    const report = JSON.parse(fs.readFileSync(path.join(result.outputDir, 'license-report.json'), 'utf8')) as LicenseReport;
    const byName = Object.fromEntries(report.packages.map((p) => [p.package.name, p]));
    expect(byName['glibc-core']!.expression).toBe('LGPL-2.0-or-later AND GPL-2.0-or-later');
    expect(byName['glibc-core']!.notes[0]).toContain('exceptions');
    expect(byName['perl-base']).toMatchObject({ expression: 'GPL-1.0-or-later OR Artistic-1.0-Perl', status: 'allow' });
    expect(byName.bash!.package).toMatchObject({ version: '1.0', release: 'alt1', arch: 'noarch', source: 'bash-1.0-alt1', supplier: 'ALT Linux Team' });
  }, 60_000);
});

describe('license-verificator contract (fake executable: the real tool cannot run here)', () => {
  // The fake checks the exact argv and input format the adapter promises, then answers in
  // the adapter's output format: one "name TAB ok|warn|fail TAB comment" line per package.
  function fakeVerificator(answers: Record<string, string>): string {
    const exe = path.join(dir, `license-verificator-${Object.keys(answers).join('-') || 'none'}`);
    const table = Object.entries(answers).map(([n, a]) => `${n}) printf '%s\\t%s\\n' "$name" '${a}' ;;`).join('\n      ');
    fs.writeFileSync(exe, `#!/bin/sh
set -eu
[ "$#" -eq 4 ] && [ "$1" = --input ] && [ "$3" = --policy ] || { echo "usage: license-verificator --input LIST --policy NAME" >&2; exit 64; }
[ "$4" = free-software ] || { echo "unexpected policy $4" >&2; exit 64; }
while IFS="$(printf '\\t')" read -r name evr arch license; do
  [ -n "$name" ] && [ -n "$evr" ] && [ -n "$arch" ] && [ -n "$license" ] || { echo "bad input line: $name" >&2; exit 65; }
  case "$name" in
      ${table}
      *) printf '%s\\tok\\t\\n' "$name" ;;
  esac
done < "$2"
`);
    fs.chmodSync(exe, 0o755);
    return exe;
  }

  it('renders and parses the exchange format', () => {
    expect(renderVerificatorInput([{ name: 'bash', version: '5.2', release: 'alt1', epoch: '1', arch: 'x86_64', declared: ['GPLv3+'], origin: 'x', licenseSource: 'rpm-tag', flavour: 'rpm' }]))
      .toBe('bash\t1:5.2-alt1\tx86_64\tGPLv3+\n');
    expect(parseVerificatorOutput('# header\nbash\tok\t\nzlib\twarn\tno license file\n', new Set(['bash', 'zlib']))).toEqual([
      { package: 'bash', verdict: 'pass', comment: '' },
      { package: 'zlib', verdict: 'review', comment: 'no license file' },
    ]);
    expect(() => parseVerificatorOutput('bash\tmaybe\n', new Set(['bash']))).toThrow(/unknown verdict/);
    expect(() => parseVerificatorOutput('ghost\tok\n', new Set(['bash']))).toThrow(/not in its input/);
  });

  it('merges its verdicts: its fail fails the build, naming the package and its reason', async () => {
    const exe = fakeVerificator({ zlib: 'fail\tlicense text not shipped' });
    const err = await run({ ...freeSoftware, deny: [], review: ['MPL-2.0', 'LicenseRef-proprietary'] }, { verificator: exe }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ type: 'PolicyViolation', details: [expect.objectContaining({ packages: ['zlib'] })] });
    expect((err as Error).message).toContain('license-verificator fail: license text not shipped');
  }, 60_000);

  it('its warn turns an allowed package into review', async () => {
    const exe = fakeVerificator({ bash: 'warn\tcheck the COPYING file' });
    const result = await run({ ...freeSoftware, deny: [], review: ['MPL-2.0', 'LicenseRef-proprietary'] }, { verificator: exe });
    expect(result.outputs.values).toMatchObject({ verdict: 'review', review: ['acme-agent', 'bash', 'firefox-esr'] });
  }, 60_000);

  it('a verificator that fails is a retryable step failure', async () => {
    const exe = path.join(dir, 'license-verificator-broken');
    fs.writeFileSync(exe, '#!/bin/sh\necho "database locked" >&2\nexit 3\n');
    fs.chmodSync(exe, 0o755);
    await expect(run({ ...freeSoftware, name: 'free-software-2' }, { verificator: exe })).rejects.toMatchObject({ type: 'StepFailed', nonRetryable: false });
  }, 60_000);
});
