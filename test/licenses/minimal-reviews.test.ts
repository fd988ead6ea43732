// The number of packages products/debian/minimal sends to a person on a first build (no
// decisions, no waivers), measured on the shared bookworm root of the image tests
// (test/debian/image-fixture.ts: minbase + the cloud kernel, systemd-sysv, udev; the
// product adds openssh-server) judged in-process by the license step's own extraction and
// products/debian/minimal's policy. The same run judges the packages again without what
// the texts identified and without licensecheck's readings, as the step did before: the
// baseline the figure is compared with. Every package still asked about is printed with why.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { extractDebian } from '../../activities/licenses';
import { runChecked } from '../../activities/process-runner';
import { loadPlans } from '../../cli/load-plan';
import { Policy, type InstalledPackage } from '../../licenses/model';
import { evaluatePackages, type Evaluation } from '../../licenses/policy';
import { debianTestRoot } from '../debian/image-fixture';
import { makeTmpDir, removeDir, silentLogger } from '../activities/helpers';

jest.setTimeout(900_000);

const RECIPE = path.join(__dirname, '..', '..', 'products', 'debian', 'minimal.sborka');

function minimalPolicy(): Policy {
  const sink = new PassThrough();
  const [plan] = loadPlans(RECIPE, { stdout: sink, stderr: sink, cwd: process.cwd() }, { product: 'debian-minimal', arches: ['x86_64'] });
  const step = plan!.variants[0]!.steps.find((s) => s.kind === 'verify-licenses')!;
  return Policy.parse((step.params as { policy: unknown }).policy);
}

let dir: string;
let installed: InstalledPackage[];
let policy: Policy;

beforeAll(async () => {
  const { tar } = await debianTestRoot();
  dir = makeTmpDir('sborka-lic-minimal-');
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  execFileSync('tar', ['--extract', `--file=${tar}`, `--directory=${root}`, '--wildcards', '--no-same-owner', '--', './var/lib/dpkg/status', './usr/share/doc/*']);
  const logPath = path.join(dir, 'step.log');
  const ctx = {
    step: { id: 'verify-licenses' } as never, signal: new AbortController().signal, progress: () => undefined,
    run: (argv: readonly string[], o: { onLine?: (l: string, s: 'stdout' | 'stderr') => void; env?: Record<string, string> } = {}) =>
      runChecked({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8', ...o.env }, cwd: dir, logPath, attempt: 1, logger: silentLogger, onLine: o.onLine }),
  };
  installed = await extractDebian(ctx, root);
  policy = minimalPolicy();
});
afterAll(() => dir && removeDir(dir));

const reviewed = (e: Evaluation) => e.packages.filter((p) => p.status === 'review');

it('asks about fewer packages than names alone did, and says why for each one left', () => {
  const now = evaluatePackages(installed, policy, { date: '2026-12-01' });
  // The step before text identification: short names only, free-form files always asked about.
  const namesOnly = installed.map(({ identified: _i, ...p }) => (p.licenseSource === 'unparsed' ? { ...p, guess: undefined } : p));
  const before = evaluatePackages(namesOnly, policy, { date: '2026-12-01' });
  const left = reviewed(now);
  const lines = left.map((p) => `${p.package.name}: ${p.because.filter((b) => b.status === 'review').map((b) => `${b.license} (${b.rule})`).join('; ')}`);
  process.stdout.write(`${JSON.stringify({ packages: now.packages.length, reviewBefore: reviewed(before).length, review: left.length })}\n${lines.join('\n')}\n`);

  expect(installed.length).toBeGreaterThan(100);
  expect(left.length).toBeLessThan(reviewed(before).length);
  // Nothing the names alone let through is asked about now, and nothing new is allowed that a name denied.
  for (const p of left) expect(reviewed(before).map((b) => b.package.name)).toContain(p.package.name);
  expect(now.packages.filter((p) => p.status === 'deny')).toEqual([]);
  for (const p of left) expect(p.because.some((b) => b.status === 'review' && b.rule.length > 0)).toBe(true);
  // Known false questions are gone: a text Debian names its own way, a licensecheck-read file, a shared doc directory.
  const status = (name: string) => now.packages.find((p) => p.package.name === name)?.status;
  expect(status('base-files')).toBe('allow'); // free-form, licensecheck: GPL-2+
  expect(status('libbz2-1.0')).toBe('allow'); // "BSD-variant" is bzip2-1.0.6 by its text
  expect(status('dpkg')).toBe('allow'); // public-domain-s-s-d: a public-domain dedication by its text
  expect(status('libip4tc2')).toBe('allow'); // "custom" is ISC by its text (the author for ISC)
  expect(status('libgnutls30')).toBe('allow'); // licensecheck's GFDL-1.3+: its only grant has no invariant sections
  expect(status('libtasn1-6')).toBe('allow');
  expect(now.packages.find((p) => p.package.name === 'libgcc-s1')?.package.guess).toBe(now.packages.find((p) => p.package.name === 'gcc-12-base')?.package.guess);
});
