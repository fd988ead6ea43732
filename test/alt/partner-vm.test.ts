// A partner's code on the alt toolchain runs inside vm-run in hasher, never on the host
// kernel: post-install scripts (configure) and `test run` commands. Uses the fakes written
// from upstream (test/alt/fakes: hasher 1.7.4, hasher-priv 2.0.14, vm-run 1.64), which take
// the real tools' options and refuse what they refuse.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { REMOVALS_SCRIPT, rootSnapshot, scriptName, writeRootChanges } from '../../activities/alt/feature';
import { altHostProblems } from '../../activities/alt/host-check';
import { AltHost } from '../../activities/alt/host';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';
import { fakeHostEach, recipePlan } from './helpers';

const fx = fakeHostEach({ arches: ['x86_64'] });

type PlanStep = { id: string; kind: string; params: Record<string, unknown>; needs: string[] };
const plan = recipePlan('products/partner-acme.sborka') as unknown as { owner: { kind: string; name?: string }; variants: Array<{ arch: string; steps: PlanStep[] }> };
const stepOf = (id: string) => plan.variants.find((v) => v.arch === 'x86_64')!.steps.find((s) => s.id === id)!;

// Test-only: the fake vm-run runs the command in the fake chroot's directory, named by FAKE_HSH_CHROOT.
const SCRIPT = 'printf "made in the VM\\n" > "${FAKE_HSH_CHROOT:?}/usr/bin/acme-vm-tool"';
const withScript = (s: PlanStep, isolation: 'vm' | 'host-sandbox' | undefined): PlanStep => {
  const params: Record<string, unknown> = { ...s.params, scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: SCRIPT }] };
  if (isolation) params.isolation = isolation;
  else delete params.isolation;
  return { ...s, params };
};

function runStep(step: unknown, inputs: Record<string, string>, owner: unknown, info: Partial<Info> = {}): Promise<StepResult> {
  const registry = defaultRegistry({ alt: { host: fx.fake.host } });
  const { runStep: run } = createActivities({ config: testConfig(fx.stateDir), logger: silentLogger, registry });
  const input = StepInput.parse({ buildId: 'b1', variantId: 'acme.x86_64', toolchain: { name: 'alt', version: '1' }, step, inputs, ...(owner ? { owner } : {}) });
  return new MockActivityEnvironment(info, { logger: quietSdkLogger }).run(run, input);
}

async function chain(configure: (s: PlanStep) => PlanStep, owner: unknown = plan.owner, builds = ['build-iso']) {
  const results: Record<string, StepResult> = {};
  for (const id of ['resolve', 'prepare-root', 'configure', ...builds]) {
    const step = id === 'configure' ? configure(stepOf(id)) : stepOf(id);
    results[id] = await runStep(step, Object.fromEntries(step.needs.filter((n) => results[n]).map((n) => [n, results[n]!.key])), owner);
  }
  return results;
}

/** vm-run's argv for the recipe's partner RPM (built from products/srpms/acme). */
const INSTALL_IN_VM = ['--kvm=try', '--sbin', '--', 'rpm', '-i', '--ignorearch', '--', '/usr/src/sborka-partner-rpms/acme-agent-1.4.2-alt1.x86_64.rpm'];
const callsOf = (name: string) => fx.fake.calls().filter((c) => c[0] === name).map((c) => c.slice(1));
const log = (r: StepResult) => fs.readFileSync(r.logPath, 'utf8');

describe('partner code on the alt toolchain (fakes written from upstream)', () => {
  it('the planner marks a partner variant\'s configure for a VM', () => {
    expect(plan.owner).toEqual({ kind: 'partner', name: 'acme' });
    expect(stepOf('configure').params.isolation).toBe('vm');
  });

  it('a partner variant\'s post-install script runs through hsh-run -- vm-run, and its changes reach the image as files', async () => {
    const r = await chain((s) => withScript(s, 'vm'));
    const vm = callsOf('vm-run');
    // The partner's own RPM first (its scriptlets in the VM: partner-rpm-scripts.test.ts), then the script.
    expect(vm).toEqual([[...INSTALL_IN_VM], ['--kvm=try', '--sbin', '--', '/bin/sh', '-c', SCRIPT]]);
    const viaVm = callsOf('hsh-run').filter((c) => c.includes('vm-run'));
    expect(viaVm).toHaveLength(2);
    // /dev/kvm is mounted, and no --rooter: under fakeroot vm-run would run the script without a VM (vm-run:193-197).
    expect(viaVm[0]).toEqual(expect.arrayContaining(['--mountpoints=/proc,/dev/pts,/dev/kvm']));
    expect(viaVm[0]).not.toContain('--rooter');
    const configure = r.configure!;
    // The script's file, and the RPM's /usr/share, /usr/share/<name> and its one file (the fake RPM's).
    expect(configure.outputs.values).toMatchObject({ isolation: 'vm', vm: { kvm: true, changed: 4, removed: 0 } });
    expect(configure.outputs.values.imageScripts).not.toContain(scriptName(0));
    expect(fs.readFileSync(path.join(configure.outputDir, 'mkimage-feature', 'rootfs', 'files', 'usr', 'bin', 'acme-vm-tool'), 'utf8')).toBe('made in the VM\n');
    expect(log(configure)).toContain('--- sborka: isolation vm: 1 post-install script(s) run under vm-run inside hasher');
    const image = fs.readFileSync(path.join(r['build-iso']!.outputDir, r['build-iso']!.outputs.values.image as string), 'utf8').split('\n');
    expect(image).toContain('file /usr/bin/acme-vm-tool');
    expect(image.filter((l) => l.startsWith('image-script 95-sborka-post-install'))).toEqual([]);
  });

  it('the fake vm-run refuses what the real one refuses: an unknown option, and --kvm=cond without KVM runs nothing', async () => {
    const wd = path.join(fx.fake.host.hasherDir, 'probe');
    fs.mkdirSync(wd, { recursive: true });
    const { spawnSync } = await import('node:child_process');
    const tool = (name: string, args: string[]) => spawnSync(path.join(fx.fake.bin, name), args, { encoding: 'utf8', env: { ...process.env, HOME: fx.fake.root } });
    expect(tool('hsh', ['--initroot-only', '--number=1', '--', wd]).status).toBe(0);
    expect(tool('hsh-install', ['--number=1', wd, 'rpm-build-vm-run', 'bash']).status).toBe(0);
    const bad = tool('hsh-run', ['--number=1', '--mountpoints=/proc,/dev/pts', '--', wd, 'vm-run', '--no-such', 'true']);
    expect([bad.status, bad.stderr]).toEqual([1, expect.stringContaining('Unknown option --no-such')]);
    const cond = tool('hsh-run', ['--number=1', '--mountpoints=/proc,/dev/pts', '--', wd, 'vm-run', '--kvm=cond', '--', '/bin/sh', '-c', 'exit 3']);
    expect([cond.status, cond.stdout]).toEqual([0, expect.stringContaining('Not running due to no KVM support')]);
  });

  it('a partner script on an arch vm-run cannot boot is refused, not run on the host kernel', async () => {
    const prepared = (await chain((s) => s))['prepare-root']!;
    fx.fake.clearCalls();
    const step = withScript(stepOf('configure'), 'vm');
    const r = await runStep({ ...step, params: { ...step.params, arch: 'riscv64' } }, { 'prepare-root': prepared.key }, plan.owner).catch((err: unknown) => err);
    expect(r).toMatchObject({ type: 'BadInput', message: expect.stringContaining('run only inside vm-run, which has no VM for riscv64') });
    expect(callsOf('hsh-run')).toEqual([]);
  });

  it('a non-partner variant\'s script stays an image script, run by mkimage-profiles through plain hsh-run', async () => {
    const r = await chain((s) => withScript(s, undefined), { kind: 'community' });
    expect(callsOf('vm-run')).toEqual([]);
    expect(r.configure!.outputs.values).toMatchObject({ isolation: 'host-sandbox', imageScripts: expect.arrayContaining([scriptName(0)]) });
    expect(log(r.configure!)).toContain('--- sborka: isolation host-sandbox: 1 post-install script(s) run by mkimage-profiles in its hasher chroot');
    const image = fs.readFileSync(path.join(r['build-iso']!.outputDir, r['build-iso']!.outputs.values.image as string), 'utf8').split('\n');
    expect(image).toContain(`image-script ${scriptName(0)}`);
  });

  it('the test-run command of a partner recipe goes through vm-run, and the step log says so', async () => {
    const r = await chain((s) => s, plan.owner, ['build-iso', 'build-qcow2']);
    fx.fake.clearCalls();
    const test = stepOf('test-run-1');
    const ran = await runStep(test, Object.fromEntries(test.needs.filter((n) => r[n]).map((n) => [n, r[n]!.key])), plan.owner);
    expect(ran.outputs.values).toMatchObject({ passed: true, vm: true, isolation: 'vm' });
    expect(callsOf('vm-run')).toEqual([[...INSTALL_IN_VM], ['--kvm=try', '--sbin', '--', 'rpm', '-q', 'firefox-esr']]);
    expect(callsOf('hsh-run').filter((c) => c.includes('vm-run'))[0]).not.toContain('--rooter');
    expect(log(ran)).toContain('--- sborka: isolation vm: the test command runs under vm-run inside hasher');
  });

  it('a partner\'s test command on an arch without vm-run is refused, not run through plain hsh-run', async () => {
    const r = await chain((s) => s, plan.owner, ['build-iso', 'build-qcow2']);
    fx.fake.clearCalls();
    const test = stepOf('test-run-1');
    const err = await runStep({ ...test, params: { ...test.params, arch: 'riscv64' } }, Object.fromEntries(test.needs.filter((n) => r[n]).map((n) => [n, r[n]!.key])), plan.owner).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', message: expect.stringContaining("a partner's test commands run only inside vm-run, which has no VM for riscv64") });
    expect(callsOf('hsh-run')).toEqual([]);
  });
});

describe('host check for partner VMs', () => {
  it('a host without /dev/kvm in hasher-priv\'s allowed devices is reported with the fix, KVM on or off', () => {
    fx.fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts\n');
    expect(altHostProblems(fx.fake.host, { kvm: false })).toEqual([]);
    const fix = 'hasher-priv does not allow /dev/kvm: add the line "allowed_devices=/dev/kvm" to';
    expect(altHostProblems(fx.fake.host, { kvm: false, partners: true })).toEqual([expect.stringContaining(`partner VMs: ${fix}`)]);
    expect(altHostProblems(fx.fake.host, { kvm: true, partners: true })).toEqual([expect.stringContaining(fix)]);
    // Listed as a mount point instead, hasher-priv would want an fstab line for it (mount.c 219-237): moved.
    fx.fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts,/dev/kvm\n');
    expect(altHostProblems(fx.fake.host, { kvm: false, partners: true })).toEqual(expect.arrayContaining([expect.stringContaining('/dev/kvm is listed in allowed_mountpoints')]));
  });

  it('a host serving an arch vm-run cannot boot is reported for partner builds', () => {
    const host = AltHost.parse({ ...fx.fake.host, arches: ['riscv64'] });
    expect(altHostProblems(host, { kvm: true })).toEqual([]);
    expect(altHostProblems(host, { kvm: true, partners: true })).toEqual([expect.stringMatching(/^partner variants for riscv64 cannot be isolated: vm-run has no VM for riscv64/)]);
  });
});

describe('a VM root\'s changes as feature files', () => {
  it('made and changed files and symlinks are copied, removals become one image script of quoted paths, pseudo file systems are left out', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-vmroot-'));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-vmfeat-'));
    try {
      for (const d of ['etc/old', 'usr/bin', 'proc', '.in']) fs.mkdirSync(path.join(root, d), { recursive: true });
      fs.writeFileSync(path.join(root, 'etc/old/a'), 'a');
      fs.writeFileSync(path.join(root, "etc/it's"), 'x');
      fs.writeFileSync(path.join(root, 'etc/keep'), 'same');
      const before = await rootSnapshot(root);
      fs.rmSync(path.join(root, 'etc/old'), { recursive: true });
      fs.rmSync(path.join(root, "etc/it's"));
      fs.writeFileSync(path.join(root, 'usr/bin/tool'), 'new', { mode: 0o755 });
      fs.symlinkSync('/usr/bin/tool', path.join(root, 'usr/bin/t'));
      fs.writeFileSync(path.join(root, 'proc/x'), 'no');
      fs.writeFileSync(path.join(root, '.in/x'), 'no');
      const r = await writeRootChanges(out, root, before, await rootSnapshot(root));
      expect(r).toEqual({ changed: 2, removed: 2, scripts: [REMOVALS_SCRIPT] });
      const files = path.join(out, 'rootfs', 'files');
      expect(fs.readFileSync(path.join(files, 'usr/bin/tool'), 'utf8')).toBe('new');
      expect(fs.statSync(path.join(files, 'usr/bin/tool')).mode & 0o777).toBe(0o755);
      expect(fs.readlinkSync(path.join(files, 'usr/bin/t'))).toBe('/usr/bin/tool');
      expect(fs.existsSync(path.join(files, 'proc'))).toBe(false);
      expect(fs.existsSync(path.join(files, '.in'))).toBe(false);
      const script = fs.readFileSync(path.join(out, 'rootfs', 'image-scripts.d', REMOVALS_SCRIPT), 'utf8');
      expect(script.split('\n').filter((l) => l.startsWith('rm '))).toEqual([`rm -rf -- '/etc/it'\\''s'`, `rm -rf -- '/etc/old'`]);
    } finally {
      removeDir(root);
      removeDir(out);
    }
  });
});
