// The number of packages products/debian/minimal sends to a person on a first build (no
// decisions, no waivers), measured on the product's own package set: mmdebstrap's minbase
// plus the packages and the kernel of the plan's resolve step, without recommends (as resolve
// asks apt), made once per machine and shared through os.tmpdir() like the image tests' root,
// and judged in-process by the license step's own extraction and products/debian/minimal's
// policy. The same run judges the packages again without what the texts identified and
// without licensecheck's readings, as the step did before: the baseline the figure is
// compared with. Every package still asked about is printed with why.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { extractDebian } from '../../activities/licenses';
import { withFileLock } from '../../activities/file-lock';
import { runChecked } from '../../activities/process-runner';
import { loadPlans } from '../../cli/load-plan';
import { Policy, type InstalledPackage } from '../../licenses/model';
import { evaluatePackages, type Evaluation } from '../../licenses/policy';
import { SOURCE_DATE_EPOCH } from '../debian/image-fixture';
import { makeTmpDir, removeDir, silentLogger } from '../activities/helpers';

jest.setTimeout(900_000);

const RECIPE = path.join(__dirname, '..', '..', 'products', 'debian', 'minimal.sborka');

type Plan = ReturnType<typeof loadPlans>[number];

function minimalPlan(): Plan {
  const sink = new PassThrough();
  return loadPlans(RECIPE, { stdout: sink, stderr: sink, cwd: process.cwd() }, { product: 'debian-minimal', arches: ['x86_64'] })[0]!;
}

function minimalPolicy(plan: Plan): Policy {
  const step = plan.variants[0]!.steps.find((s) => s.kind === 'verify-licenses')!;
  return Policy.parse((step.params as { policy: unknown }).policy);
}

/** The product's packages: the resolve step's list and its kernel flavour's metapackage. */
function productPackages(plan: Plan): string[] {
  const params = plan.variants[0]!.steps.find((s) => s.kind === 'resolve')!.params as { packages: string[]; kernel?: string; branch: string };
  return [...params.packages, ...(params.kernel ? [`linux-image-${params.kernel}-amd64`] : [])];
}

const ROOT_DIR = path.join(os.tmpdir(), 'sborka-license-minimal-root-v1');

/** The dpkg status and /usr/share/doc of a bookworm minbase root with the product's packages (about 2 min, once). */
async function productRoot(packages: readonly string[]): Promise<string> {
  const root = path.join(ROOT_DIR, `root-${packages.join(',').replace(/[^a-z0-9.,+-]/g, '_')}`);
  fs.mkdirSync(ROOT_DIR, { recursive: true });
  await withFileLock(path.join(ROOT_DIR, 'lock'), undefined, async () => {
    if (fs.existsSync(path.join(root, 'var/lib/dpkg/status'))) return;
    const tar = path.join(ROOT_DIR, `partial-${process.pid}.tar`);
    const partial = `${root}.${process.pid}.partial`;
    try {
      execFileSync('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${packages.join(',')}`, 'bookworm', tar], {
        env: { ...process.env, SOURCE_DATE_EPOCH: String(SOURCE_DATE_EPOCH) }, stdio: 'ignore', timeout: 900_000,
      });
      fs.mkdirSync(partial, { recursive: true });
      execFileSync('tar', ['--extract', `--file=${tar}`, `--directory=${partial}`, '--wildcards', '--no-same-owner', '--', './var/lib/dpkg/status', './usr/share/doc/*']);
      fs.renameSync(partial, root);
    } finally {
      fs.rmSync(tar, { force: true });
      fs.rmSync(partial, { recursive: true, force: true });
    }
  });
  return root;
}

let dir: string;
let installed: InstalledPackage[];
let policy: Policy;

beforeAll(async () => {
  const plan = minimalPlan();
  policy = minimalPolicy(plan);
  const root = await productRoot(productPackages(plan));
  dir = makeTmpDir('sborka-lic-minimal-');
  const logPath = path.join(dir, 'step.log');
  const ctx = {
    step: { id: 'verify-licenses' } as never, signal: new AbortController().signal, progress: () => undefined,
    run: (argv: readonly string[], o: { onLine?: (l: string, s: 'stdout' | 'stderr') => void; env?: Record<string, string> } = {}) =>
      runChecked({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8', ...o.env }, cwd: dir, logPath, attempt: 1, logger: silentLogger, onLine: o.onLine }),
  };
  installed = await extractDebian(ctx, root);
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
  expect(status('util-linux')).toBe('allow'); // "BSLA" is BSD-4.3TAHOE by its text, a license the policy allows
  expect(status('libbsd0')).toBe('allow'); // BSD texts naming their holders in SPDX's name slots
  expect(status('libnsl2')).toBe('allow'); // "GPL-2+-autoconf-exception", autoconf's 19-word FSFUL
  expect(status('libkrb5-3')).toBe('allow'); // free-form: licensecheck's MIT~OpenVision is the OpenVision text the file carries
  expect(status('openssh-server')).toBe('review'); // Ylonen's licence with notes SPDX has no text for: a person reads it
  // The figure on 2026-12-02 (bookworm 12.12): 43 before this matcher and policy, 25 after.
  expect(left.length).toBeLessThanOrEqual(25);
  expect(now.packages.find((p) => p.package.name === 'libgcc-s1')?.package.guess).toBe(now.packages.find((p) => p.package.name === 'gcc-12-base')?.package.guess);
});
