// End to end, x86_64, for real: products/debian/minimal.sborka → plan → BuildProduct workflow
// → mmdebstrap roots, configure, img and tar writers → license report and SBOM → boot, run and
// reproducibility tests in qemu → a signed, published version directory. Everything goes
// through the compiled `sborka` command against its own embedded Temporal server, and a
// second build of the same recipe comes from the store.
//
// The recipe publishes to /srv/images/debian/{product}/{date}/{arch}, and publishing never
// rewrites a recipe's path: the operator's files root must contain it. So the build runs in a
// private mount namespace in which a temporary directory is bind-mounted over /srv; the
// configured root is /srv/images, exactly as on a build host, and the host's /srv is untouched.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLedger } from '../../activities/ledger';
import { stepLogPath } from '../../activities/step-log';
import type { BuildProductResult, StepOutcome } from '../../workflows/contract';
import { PROJECT_ROOT, SborkaEnv, type CliRun } from '../helpers/sborka-env';

jest.setTimeout(45 * 60_000);

const RECIPE = path.join(PROJECT_ROOT, 'products', 'debian', 'minimal.sborka');
const CLI = path.join(PROJECT_ROOT, 'build', 'cli', 'sborka.js');
const PRODUCT = 'debian-minimal';
const VARIANT = 'debian-minimal.x86_64.cloud';
const KEY_UID = 'sborka e2e <sborka-e2e@localhost>';
const KEY_EMAIL = 'sborka-e2e@localhost';
/** Not cacheable by design: resolve reads the mirror's current indexes, publish checks its target. */
const ALWAYS_RUN = new Set(['resolve', 'publish-files']);

let sborka: SborkaEnv;
let tmp: string;
let srv: string;
let gnupg: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  sborka = await SborkaEnv.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-e2e-'));
  srv = path.join(tmp, 'srv');
  fs.mkdirSync(path.join(srv, 'images'), { recursive: true });
  gnupg = path.join(tmp, 'gnupg');
  fs.mkdirSync(gnupg, { mode: 0o700 });
  // A throw-away signing key without a passphrase.
  execFileSync('gpg', ['--batch', '--homedir', gnupg, '--passphrase', '', '--quick-gen-key', KEY_UID, 'ed25519', 'sign', 'never'], { stdio: 'pipe' });
  fs.writeFileSync(
    path.join(sborka.stateDir, 'publish.json'),
    `${JSON.stringify({ files: [{ root: '/srv/images', owners: ['community', 'maintainer'] }], signing: { gpg: { key: KEY_EMAIL, homedir: gnupg } } }, null, 2)}\n`,
  );
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (gnupg) spawnQuiet('gpgconf', ['--homedir', gnupg, '--kill', 'all']);
  await sborka?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function spawnQuiet(program: string, args: string[]): void {
  try {
    execFileSync(program, args, { stdio: 'ignore' });
  } catch {
    // nothing to stop
  }
}

/**
 * `sborka build` with its in-process workers, in a private mount namespace where `srv` is /srv.
 * The shell only mounts and execs; every value reaches it as an argument.
 */
function buildWithPrivateSrv(buildId: string): Promise<CliRun> {
  const child = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" /srv && shift && exec "$@"', 'sborka-e2e', srv,
      process.execPath, CLI, 'build', RECIPE, '--product', PRODUCT, '--arch', 'x86_64', '--id', buildId],
    { cwd: PROJECT_ROOT, env: sborka.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
}

/**
 * Builds and, while it runs, approves the license review when the variant waits for one
 * (`sborka approve`), as an operator would: the real minimal set has copyright files that are
 * not machine-readable and license names that are not SPDX, and the recipe's policy
 * (`unknown review`) sends those to a person. The approval lives in its build only.
 */
async function buildApprovingReview(buildId: string): Promise<{ run: CliRun; approvals: CliRun[] }> {
  const approvals: CliRun[] = [];
  let done = false;
  const build = buildWithPrivateSrv(buildId).finally(() => (done = true));
  while (!done) {
    await Promise.race([build, new Promise((r) => setTimeout(r, 3000))]);
    if (done) break;
    const status = await sborka.run(['status', buildId]);
    if (/waiting for an operator on verify-licenses/.test(status.stdout)) approvals.push(await sborka.run(['approve', buildId, '--reason', 'e2e: Debian main']));
  }
  return { run: await build, approvals };
}

/**
 * The build's closing summary, and when it did not succeed, the last lines of every failed
 * step's log: CI keeps only a part of a long failure, so the reason comes first and short.
 */
function outcomeOf(buildId: string, run: CliRun): string {
  if (new RegExp(`^build ${buildId}: succeeded$`, 'm').test(run.stdout)) return 'succeeded';
  // The closing summary (or "build … ended: why") is at the end of the progress lines.
  const summary = run.stdout.trimEnd().split('\n').slice(-12).join('\n');
  const failed = [...run.stdout.matchAll(new RegExp(`^${VARIANT.replace(/\./g, '\\.')} (\\S+) failed`, 'gm'))].map((m) => m[1]!);
  const tails = failed.map((step) => {
    const log = stepLogPath(sborka.config.logDir, buildId, VARIANT, step);
    const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-40) : ['(no log)'];
    return `--- ${step} (last lines of its log)\n${lines.join('\n')}`;
  });
  return [summary, `exit code ${run.code}; stderr: ${run.stderr.trim().slice(-2000) || '(empty)'}`, ...tails].join('\n');
}

async function productResult(buildId: string): Promise<BuildProductResult> {
  const client = await sborka.client();
  return (await client.workflow.getHandle(buildId).result()) as BuildProductResult;
}

function stepsOf(result: BuildProductResult): Map<string, StepOutcome> {
  expect(result.variants.map((v) => v.variantId)).toEqual([VARIANT]);
  return new Map(result.variants[0]!.result!.steps.map((s) => [s.id, s]));
}

interface Manifest {
  key: string;
  kind: string;
  outputs: { files: Array<{ path: string; sha256: string; size: number }>; values: Record<string, unknown> };
}

function manifestOf(step: StepOutcome): Manifest {
  return JSON.parse(fs.readFileSync(path.join(path.dirname(step.outputDir!), 'manifest.json'), 'utf8')) as Manifest;
}

/** Streams the file through sha256sum: the img is 2 GiB, more than one Buffer holds. */
function sha256(file: string): string {
  return execFileSync('sha256sum', ['--binary', '--', file], { encoding: 'utf8' }).split(' ')[0]!;
}

function readJson<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

interface Receipt {
  status: string;
  root: string;
  dir: string;
  files: Array<{ name: string; sha256: string; size: number }>;
  signatures: string[];
}

async function expectApproved(buildId: string): Promise<void> {
  const status = await sborka.run(['status', buildId, '--json']);
  expect(status.code).toBe(0);
  const view = JSON.parse(status.stdout) as { variants: Array<{ steps: Array<{ id: string; approval?: { reason?: string; at: string } }> }> };
  const step = view.variants[0]!.steps.find((s) => s.id === 'verify-licenses')!;
  expect(step.approval).toMatchObject({ reason: 'e2e: Debian main' });
}

let firstSteps: Map<string, StepOutcome>;
let firstReceipt: Receipt;

test('the minimal x86_64 image builds, boots, passes its tests and is published signed', async () => {
  const buildId = 'e2e-debian-minimal-1';
  const { run, approvals } = await buildApprovingReview(buildId);
  expect(outcomeOf(buildId, run)).toBe('succeeded');
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);

  const result = await productResult(buildId);
  expect(result.state).toBe('succeeded');
  const steps = stepsOf(result);
  firstSteps = steps;
  expect([...steps.keys()].sort()).toEqual(
    ['build-img', 'build-tar', 'configure', 'prepare-root', 'publish-files', 'resolve', 'test-boot', 'test-reproducible', 'test-run-1', 'verify-licenses'],
  );
  for (const s of steps.values()) expect({ step: s.id, ok: s.state === 'succeeded' || s.state === 'cached' }).toEqual({ step: s.id, ok: true });

  // Every file every step produced is in the store with the digest and size its manifest lists.
  for (const s of steps.values()) {
    const manifest = manifestOf(s);
    expect(manifest.key).toBe(s.key);
    for (const f of manifest.outputs.files) {
      const file = path.join(s.outputDir!, f.path);
      expect({ file: f.path, sha256: sha256(file), size: fs.statSync(file).size }).toEqual({ file: f.path, sha256: f.sha256, size: f.size });
    }
  }
  // The images: what the writer reports is what is on disk, and the CLI printed where they are.
  for (const [id, name] of [['build-img', 'debian-minimal-x86_64-cloud.img'], ['build-tar', 'debian-minimal-x86_64-cloud.tar']] as const) {
    const s = steps.get(id)!;
    const file = path.join(s.outputDir!, name);
    expect(manifestOf(s).outputs.values.sha256).toBe(sha256(file));
    expect(run.stdout).toContain(file);
  }
  execFileSync('tar', ['--list', '--file', path.join(steps.get('build-tar')!.outputDir!, 'debian-minimal-x86_64-cloud.tar'), './etc/os-release'], { stdio: 'pipe' });

  // The boot test saw "login:" on the serial console; the run test's command said "running".
  const boot = steps.get('test-boot')!;
  const bootResult = readJson(path.join(boot.outputDir!, 'result.json'));
  expect(bootResult).toMatchObject({ type: 'boot', passed: true, expect: 'login:', arch: 'x86_64' });
  expect((bootResult.image as { sha256: string }).sha256).toBe(manifestOf(steps.get('build-img')!).outputs.values.sha256);
  // (These two are also test/debian/boot.test.ts's passing cases: the img boots by itself,
  // GRUB in the MBR, and a command runs inside it; that file keeps the failures.)
  const bootConsole = fs.readFileSync(path.join(boot.outputDir!, 'console.log'), 'utf8');
  expect(bootConsole).toContain('login:');
  expect(bootConsole).toMatch(/Linux version 6\.1\./);
  const runTest = readJson(path.join(steps.get('test-run-1')!.outputDir!, 'result.json'));
  expect(runTest).toMatchObject({ type: 'run', passed: true, exitCode: 0, argv: ['systemctl', 'is-system-running'] });
  expect(String(runTest.stdout).trim()).toBe('running');
  // The harness went into a copy: the image the run test booted is the one built, and its
  // bytes are still those its manifest lists (checked for every file above).
  expect((runTest.image as { sha256: string }).sha256).toBe(manifestOf(steps.get('build-img')!).outputs.values.sha256);
  // openssh-server is in the image without host keys (each machine makes its own at first
  // boot, and sshd ran: the system is "running"), so the root made again from the lock is the same.
  const listing = execFileSync('tar', ['--list', '--file', path.join(steps.get('build-tar')!.outputDir!, 'debian-minimal-x86_64-cloud.tar')], { maxBuffer: 256 << 20 }).toString().split('\n');
  expect(listing).toContain('./usr/sbin/sshd');
  expect(listing.filter((n) => n.startsWith('./etc/ssh/ssh_host_'))).toEqual([]);
  const reproducible = readJson<{ artifacts: Array<{ step: string; file: string; identical: boolean }> }>(path.join(steps.get('test-reproducible')!.outputDir!, 'result.json'));
  expect(reproducible.artifacts.map((a) => [a.step, a.file, a.identical])).toEqual([
    ['prepare-root', 'rootfs.tar', true], ['configure', 'rootfs.tar', true],
    ['build-img', 'debian-minimal-x86_64-cloud.img', true], ['build-tar', 'debian-minimal-x86_64-cloud.tar', true],
  ]);

  // The license report and the SBOM of the real root.
  const licenses = steps.get('verify-licenses')!;
  const report = readJson<{ verdict: string; policy: string; totals: { packages: number; byStatus: Record<string, number> } }>(path.join(licenses.outputDir!, 'license-report.json'));
  const values = manifestOf(licenses).outputs.values;
  expect(report.policy).toBe('debian-main');
  expect(report.verdict).toBe(values.verdict);
  expect(report.verdict).not.toBe('fail');
  expect(report.totals.byStatus.deny).toBe(0);
  expect(report.totals.packages).toBeGreaterThan(100);
  expect(report.totals.packages).toBe(manifestOf(steps.get('resolve')!).outputs.values.packages);
  const sbom = readJson<{ spdxVersion: string; packages: unknown[] }>(path.join(licenses.outputDir!, 'sbom.spdx.json'));
  expect(sbom.spdxVersion).toBe('SPDX-2.3');
  expect(sbom.packages.length).toBeGreaterThanOrEqual(report.totals.packages);
  // A review waited for the operator, who approved it once; the status records it. The
  // approval recorded one decision per package, and the step ran again with them: its report
  // says who cleared what, and nothing is left to review.
  expect(approvals.map((a) => a.code)).toEqual(approvals.length ? [0] : []);
  if (approvals.length) {
    await expectApproved(buildId);
    expect(report.verdict).not.toBe('review');
    expect(report.totals.byStatus.cleared).toBeGreaterThan(0);
  }

  // The published version: under the configured root, checksummed, signed, with build.json.
  const receipt = readJson<Receipt>(path.join(steps.get('publish-files')!.outputDir!, 'publish.json'));
  firstReceipt = receipt;
  expect(receipt).toMatchObject({ status: 'published', root: '/srv/images', signatures: ['.asc'] });
  expect(receipt.dir).toMatch(/^\/srv\/images\/debian\/debian-minimal\/\d{8}\/x86_64$/);
  const published = path.join(srv, path.relative('/srv', receipt.dir));
  const names = fs.readdirSync(published).sort();
  expect(names).toEqual(expect.arrayContaining(
    ['SHA256SUMS', 'SHA256SUMS.asc', 'build.json', 'debian-minimal-x86_64-cloud.img', 'debian-minimal-x86_64-cloud.tar', 'license-report.json', 'packages.lock.json', 'sbom.spdx.json'],
  ));
  execFileSync('sha256sum', ['--check', '--strict', '--quiet', 'SHA256SUMS'], { cwd: published, stdio: 'pipe' });
  const verify = execFileSync('gpg', ['--batch', '--homedir', gnupg, '--status-fd', '1', '--verify', 'SHA256SUMS.asc', 'SHA256SUMS'], { cwd: published, encoding: 'utf8', stdio: 'pipe' });
  expect(verify).toMatch(/^\[GNUPG:\] GOODSIG \S+ sborka e2e <sborka-e2e@localhost>$/m);
  expect(verify).toMatch(/^\[GNUPG:\] VALIDSIG /m);
  const sums = fs.readFileSync(path.join(published, 'SHA256SUMS'), 'utf8');
  expect(sums).toContain(`${sha256(path.join(steps.get('build-img')!.outputDir!, 'debian-minimal-x86_64-cloud.img'))}  debian-minimal-x86_64-cloud.img`);
  const buildJson = readJson<{ product: string; arch: string; buildId: string; files: Array<{ name: string; sha256: string }>; license: { verdict: string } }>(path.join(published, 'build.json'));
  expect(buildJson).toMatchObject({ product: PRODUCT, arch: 'x86_64', buildId, license: { verdict: report.verdict } });
  expect(buildJson.files.map((f) => f.name).sort()).toEqual(names.filter((n) => !n.startsWith('SHA256SUMS') && n !== 'build.json'));
});

test('building the same recipe again takes every cacheable step from the store and spawns nothing for them', async () => {
  expect(firstSteps).toBeDefined();
  const buildId = 'e2e-debian-minimal-2';
  const { run, approvals } = await buildApprovingReview(buildId);
  expect(outcomeOf(buildId, run)).toBe('succeeded');
  expect(run.code).toBe(0);
  // The verdict comes from the store, made with the first build's decisions: nobody is asked.
  const verdict = manifestOf(firstSteps.get('verify-licenses')!).outputs.values.verdict;
  expect(approvals.map((a) => a.code)).toEqual(verdict === 'review' ? [0] : []);
  if (verdict === 'review') await expectApproved(buildId);
  expect(run.stdout).toMatch(/steps: 10 \(8 from the store\)/);

  const steps = stepsOf(await productResult(buildId));
  for (const s of steps.values()) {
    // The same lock (same content, same key) gives the same keys downstream.
    expect({ step: s.id, key: s.key }).toEqual({ step: s.id, key: s.id === 'publish-files' ? s.key : firstSteps.get(s.id)!.key });
    expect({ step: s.id, cached: s.cached }).toEqual({ step: s.id, cached: !ALWAYS_RUN.has(s.id) });
  }
  const ledger = (await readLedger(sborka.config.storeDir)).filter((e) => e.buildId === buildId);
  for (const e of ledger.filter((l) => !ALWAYS_RUN.has(l.stepId))) expect({ step: e.stepId, outcome: e.outcome, pids: e.pids }).toEqual({ step: e.stepId, outcome: 'cached', pids: [] });
  expect(ledger.filter((l) => !ALWAYS_RUN.has(l.stepId))).toHaveLength(8);

  // Publishing the same version again changes nothing there (a new {date} would be a new version).
  const receipt = readJson<Receipt>(path.join(steps.get('publish-files')!.outputDir!, 'publish.json'));
  expect(receipt.files).toEqual(firstReceipt.files);
  expect(receipt.status).toBe(receipt.dir === firstReceipt.dir ? 'unchanged' : 'published');
  if (receipt.status === 'unchanged') expect(ledger.find((l) => l.stepId === 'publish-files')!.pids).toEqual([]);
});
