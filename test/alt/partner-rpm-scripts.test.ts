// A partner's own RPMs on the alt toolchain: their %post never runs through hsh-install
// (rpmi in the hasher chroot, on the host kernel), only inside vm-run. Uses the fakes
// written from upstream (test/alt/fakes: hasher 1.7.4's hsh-install and hsh-copy, vm-run
// 1.64, whose VM sees only the chroot); the fake rpm runs a package's %post unless
// --noscripts, and .state/scriptlets says where each one ran.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { partnerRpms } from '../../activities/alt/partner-rpms';
import type { KindContext } from '../../activities/kinds/registry';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';
import { fakeHostEach, recipePlan } from './helpers';

const fx = fakeHostEach({ arches: ['x86_64'] });
const PRODUCTS = path.resolve(__dirname, '..', '..', 'products');

type PlanStep = { id: string; kind: string; params: Record<string, unknown>; needs: string[] };
const plan = recipePlan('products/partner-acme.sborka') as unknown as { owner: { kind: string; name?: string }; variants: Array<{ arch: string; steps: PlanStep[] }> };
const stepOf = (id: string) => plan.variants.find((v) => v.arch === 'x86_64')!.steps.find((s) => s.id === id)!;

let recipe: string;
let hostMark: string;
beforeEach(() => {
  // The recipe's files, with the agent's source package replaced by acme-hook (a name the
  // mirror lacks), whose %post reaches for the host: a file outside the chroot, /etc/shadow.
  recipe = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-alt-recipe-'));
  hostMark = path.join(fx.fake.root, 'written-by-post');
  for (const d of ['keys', 'overlays']) fs.cpSync(path.join(PRODUCTS, d), path.join(recipe, d), { recursive: true });
  fs.mkdirSync(path.join(recipe, 'srpms', 'acme'), { recursive: true });
  // Shell builtins only: the fake chroot ships no coreutils but its stand-ins.
  const post = [
    'printf "post ran\\n" > "$FAKE_HSH_CHROOT/usr/bin/acme-hook-post-ran"',
    `: > ${hostMark} 2>/dev/null || :`,
    'if [ -r /etc/shadow ]; then echo readable; else echo absent; fi > "$FAKE_HSH_CHROOT/usr/bin/acme-hook-shadow"',
  ];
  fs.writeFileSync(path.join(recipe, 'srpms', 'acme', 'acme-hook-1.0-alt1.src.rpm'), ['Name: acme-hook', 'License: LicenseRef-proprietary', '%post', ...post, '%files', '/usr/bin/acme-agent', ''].join('\n'));
});
afterEach(() => removeDir(recipe));

function runStep(step: PlanStep, inputs: Record<string, string>, owner: unknown): Promise<StepResult> {
  const registry = defaultRegistry({ alt: { host: fx.fake.host } });
  const { runStep: run } = createActivities({ config: testConfig(fx.stateDir), logger: silentLogger, registry });
  const params = { ...step.params, ...('recipeDir' in step.params ? { recipeDir: recipe } : {}) };
  const input = StepInput.parse({ buildId: 'b1', variantId: 'acme.x86_64', toolchain: { name: 'alt', version: '1' }, step: { ...step, params }, inputs, owner });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(run, input);
}

async function chain(owner: { kind: string; name?: string }, edit: (s: PlanStep) => PlanStep = (s) => s) {
  const results: Record<string, StepResult> = {};
  for (const id of ['resolve', 'prepare-root', 'configure', 'build-iso']) {
    const base = stepOf(id);
    const step = edit(id === 'resolve' ? { ...base, params: { ...base.params, packages: [...(base.params.packages as string[]), 'acme-hook'] } } : base);
    results[id] = await runStep(step, Object.fromEntries(step.needs.filter((n) => results[n]).map((n) => [n, results[n]!.key])), owner);
  }
  return results;
}

const callsOf = (name: string) => fx.fake.calls().filter((c) => c[0] === name).map((c) => c.slice(1));
const scriptlets = () => (fs.existsSync(path.join(fx.fake.state, 'scriptlets')) ? fs.readFileSync(path.join(fx.fake.state, 'scriptlets'), 'utf8').trim().split('\n').map((l) => l.split('\t')) : []);
const RPM_IN_ROOT = '/usr/src/sborka-partner-rpms/acme-hook-1.0-alt1.x86_64.rpm';

describe('a partner RPM\'s %post on the alt toolchain (fakes written from upstream)', () => {
  it('runs once, inside vm-run: never through hsh-install or mkimage-profiles, and leaves nothing on the host', async () => {
    const r = await chain(plan.owner);
    expect(scriptlets()).toEqual([['vm', 'acme-hook']]);
    expect(fs.existsSync(hostMark)).toBe(false);
    expect(callsOf('hsh-install').filter((c) => c.includes('acme-hook'))).toEqual([]);
    // Copied in as files (no --number: hsh-copy's getopt takes none), then rpm -i in the VM.
    expect(callsOf('hsh-copy').every((c) => c[0] === '--no-wait-lock' && c[1]!.startsWith('--workdir=') && c.at(-1) === '/usr/src/sborka-partner-rpms')).toBe(true);
    expect(callsOf('vm-run')).toEqual([['--kvm=try', '--sbin', '--', 'rpm', '-i', '--ignorearch', '--', RPM_IN_ROOT]]);
    const runs = callsOf('hsh-run').filter((c) => c.includes(RPM_IN_ROOT));
    // resolve, prepare-root and build's query root: --noscripts as the pseudo-root; configure: vm-run.
    expect(runs.filter((c) => c.includes('vm-run'))).toHaveLength(1);
    expect(runs.filter((c) => !c.includes('vm-run'))).toHaveLength(3);
    for (const c of runs.filter((x) => !x.includes('vm-run'))) expect(c).toEqual(expect.arrayContaining(['--rooter', '--noscripts', '--notriggers']));
    // What the %post did in the VM joins the image as files; /etc/shadow was not there to read.
    const files = path.join(r.configure!.outputDir, 'mkimage-feature', 'rootfs', 'files');
    expect(fs.readFileSync(path.join(files, 'usr/bin/acme-hook-post-ran'), 'utf8')).toBe('post ran\n');
    expect(fs.readFileSync(path.join(files, 'usr/bin/acme-hook-shadow'), 'utf8')).toBe('absent\n');
    expect(fs.existsSync(path.join(files, 'var/lib/rpm'))).toBe(false);
    expect(fs.readFileSync(r.configure!.logPath, 'utf8')).toContain('partner package(s) acme-hook through rpm inside vm-run (scriptlets in the VM)');
    const image = fs.readFileSync(path.join(r['build-iso']!.outputDir, r['build-iso']!.outputs.values.image as string), 'utf8').split('\n');
    expect(image).toContain('file /usr/bin/acme-hook-post-ran');
    expect(image.filter((l) => l.startsWith('acme-hook\t'))).toEqual([]);
    expect(image.filter((l) => l.startsWith('acme-agent\t'))).toHaveLength(1);
    // The license check still sees the partner's package.
    expect(fs.readFileSync(path.join(r['build-iso']!.outputDir, 'rpm-qa.tsv'), 'utf8')).toContain('acme-hook');
  });

  it('a maintainer\'s (non-partner) variant keeps today\'s path: hsh-install runs the %post in the hasher chroot', async () => {
    const community = (s: PlanStep): PlanStep => {
      const params = { ...s.params };
      delete params.isolation;
      return { ...s, params };
    };
    await chain({ kind: 'community' }, community);
    expect(callsOf('vm-run')).toEqual([]);
    expect(callsOf('hsh-copy')).toEqual([]);
    expect(callsOf('hsh-install').filter((c) => c.includes('acme-hook')).length).toBeGreaterThanOrEqual(2);
    expect(scriptlets().filter(([, name]) => name === 'acme-hook').map(([who]) => who)).toEqual(expect.arrayContaining(['hsh-install']));
    expect(scriptlets().some(([who]) => who === 'vm')).toBe(false);
    // The fake's chroot is no real one: the mark shows the script ran with the host's view.
    expect(fs.existsSync(hostMark)).toBe(true);
  });

  it('a partner\'s post-install script file that is a symlink out of the recipe is refused before anything runs', async () => {
    const r = await chain(plan.owner);
    fs.symlinkSync('/etc/shadow', path.join(recipe, 'post.sh'));
    fx.fake.clearCalls();
    const step = stepOf('configure');
    const bad = { ...step, params: { ...step.params, scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file: 'post.sh' }] } };
    await expect(runStep(bad, { 'prepare-root': r['prepare-root']!.key }, plan.owner)).rejects.toMatchObject({ type: 'BadInput', message: expect.stringContaining('leads outside the recipe directory') });
    expect(callsOf('hsh-run')).toEqual([]);
  });

  it('a script path with ".." or an absolute one is refused by the step\'s schema', () => {
    for (const file of ['../../etc/shadow', '/etc/shadow']) {
      const step = stepOf('configure');
      const bad = { ...step, params: { ...step.params, scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file }] } };
      expect(() => StepInput.parse({ buildId: 'b1', variantId: 'v', toolchain: { name: 'alt', version: '1' }, step: bad, inputs: {} })).toThrow(/relative path/);
    }
  });

  it('a symlinked source package in the recipe\'s sources directory is refused, not built', async () => {
    fs.rmSync(path.join(recipe, 'srpms', 'acme', 'acme-hook-1.0-alt1.src.rpm'));
    fs.symlinkSync('/etc/passwd', path.join(recipe, 'srpms', 'acme', 'acme-hook-1.0-alt1.src.rpm'));
    await expect(runStep(stepOf('resolve'), {}, plan.owner)).rejects.toMatchObject({ type: 'BadInput', message: expect.stringContaining('is not a regular file') });
    expect(callsOf('hsh')).toEqual([]);
  });
});

describe('partner RPMs from the store are checked before hsh-copy (it follows links: hsh-copy:148-150)', () => {
  const rpm = 'acme-agent-1.4.2-alt1.x86_64.rpm';
  let dir: string;
  let ctx: KindContext;
  const sha = (b: string) => createHash('sha256').update(b).digest('hex');
  const lock = (file: string, digest: string) => ({ arch: 'x86_64', built: [{ file, sha256: digest }] });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-alt-prpms-'));
    fs.mkdirSync(path.join(dir, 'repo', 'x86_64', 'RPMS.hasher'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'work'));
    ctx = { step: { id: 'configure' }, workDir: path.join(dir, 'work') } as unknown as KindContext;
  });
  afterEach(() => removeDir(dir));
  const at = (f: string) => path.join(dir, 'repo', 'x86_64', 'RPMS.hasher', f);

  it('a plain file of the lock\'s digest passes; "..", absolute and dotted names do not', async () => {
    fs.writeFileSync(at(rpm), 'FAKE-RPM\tx\n');
    const ok = await partnerRpms(ctx, { partnerRepo: path.join(dir, 'repo') }, lock(rpm, sha('FAKE-RPM\tx\n')));
    expect(ok && [...ok.names]).toEqual(['acme-agent']);
    for (const file of [`../${rpm}`, `/etc/${rpm}`, `.${rpm}`, 'shadow']) {
      await expect(partnerRpms(ctx, { partnerRepo: path.join(dir, 'repo') }, lock(file, sha('x')))).rejects.toMatchObject({ type: 'BadInput', message: expect.stringContaining('is not a plain name-version-release.arch.rpm file name') });
    }
  });

  it('a symlink, a hard link or other bytes than the lock\'s are refused', async () => {
    const outside = path.join(dir, 'outside');
    fs.writeFileSync(outside, 'secret');
    fs.symlinkSync(outside, at(rpm));
    await expect(partnerRpms(ctx, { partnerRepo: path.join(dir, 'repo') }, lock(rpm, sha('secret')))).rejects.toMatchObject({ message: expect.stringContaining('is a symlink: refused') });
    fs.rmSync(at(rpm));
    fs.linkSync(outside, at(rpm));
    await expect(partnerRpms(ctx, { partnerRepo: path.join(dir, 'repo') }, lock(rpm, sha('secret')))).rejects.toMatchObject({ message: expect.stringContaining('(a hard link): refused') });
    fs.rmSync(at(rpm));
    fs.writeFileSync(at(rpm), 'changed');
    await expect(partnerRpms(ctx, { partnerRepo: path.join(dir, 'repo') }, lock(rpm, sha('original')))).rejects.toMatchObject({ message: expect.stringContaining("differs from the lock's sha256") });
    expect(fs.readdirSync(path.join(dir, 'work', 'partner-rpms-checked'))).toEqual([]);
  });
});
