// Contract tests of the alt toolchain against fake hasher, vm-run, mkimage-profiles and
// rpm that take exactly the real tools' options and print their real formats.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import * as argv from '../../activities/alt/argv';
import { privProblems } from '../../activities/alt/hasher-priv';
import { parseImageLine, profileFragment } from '../../activities/alt/image-line';
import { SKIP_MARKERS } from '../../activities/alt/kinds/test';
import { imageScript, usersScript } from '../../activities/alt/feature';
import { altDefaultQueues, altQueueProblems } from '../../activities/alt/queues';
import { AltHost } from '../../activities/alt/host';
import { altWorkerSetup } from '../../cli/commands/worker';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { quietSdkLogger, silentLogger, testConfig } from '../activities/helpers';
import { fakeHostEach, recipePlan } from './helpers';

const fx = fakeHostEach({ arches: ['x86_64'], emulate: ['aarch64'] });

const plan = recipePlan('products/partner-acme.sborka') as unknown as {
  variants: Array<{ arch: string; steps: Array<{ id: string; kind: string; params: Record<string, unknown>; needs: string[] }> }>;
};
const stepOf = (id: string, arch = 'x86_64') => plan.variants.find((v) => v.arch === arch)!.steps.find((s) => s.id === id)!;

function runStep(step: unknown, inputs: Record<string, string> = {}, info: Partial<Info> = {}): Promise<StepResult> {
  const registry = defaultRegistry({ alt: { host: fx.fake.host } });
  const { runStep: run } = createActivities({ config: testConfig(fx.stateDir), logger: silentLogger, registry });
  const input = StepInput.parse({ buildId: 'b1', variantId: 'acme.x86_64', toolchain: { name: 'alt', version: '1' }, step, inputs });
  return new MockActivityEnvironment(info, { logger: quietSdkLogger }).run(run, input);
}

async function chain(arch = 'x86_64', patch: (id: string, s: Record<string, unknown>) => Record<string, unknown> = (_id, s) => s) {
  const results: Record<string, StepResult> = {};
  for (const id of ['resolve', 'prepare-root', 'configure', 'build-iso', 'build-qcow2']) {
    const step = patch(id, stepOf(id, arch) as unknown as Record<string, unknown>) as { needs: string[] };
    results[id] = await runStep(step, Object.fromEntries(step.needs.map((n) => [n, results[n]!.key])));
  }
  return results;
}

const tool = (name: string, args: string[]) => spawnSync(path.join(fx.fake.bin, name), args, { encoding: 'utf8', env: { ...process.env, HOME: fx.fake.root } });
const callsOf = (name: string) => fx.fake.calls().filter((c) => c[0] === name).map((c) => c.slice(1));

describe('alt tools', () => {
  it('contract: hasher tools reject unknown options as getopt does, with exit 1', () => {
    for (const name of ['hsh', 'hsh-install', 'hsh-run', 'hsh-rebuild']) {
      const r = tool(name, ['--no-such-option', '/tmp']);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`${name}: unrecognized option '--no-such-option'\nTry \`${name} --help' for more information.\n`);
    }
    // getopt takes unambiguous prefixes (mkimage's --initroot) but not --printenv-only.
    expect(tool('hsh', ['--printenv-only']).stderr).toContain("hsh: unrecognized option '--printenv-only'");
  });

  it('contract: hsh-run needs -- before the program, or getopt takes its options', () => {
    fs.mkdirSync(path.join(fx.fake.root, 'wd', 'chroot'), { recursive: true });
    const r = tool('hsh-run', [path.join(fx.fake.root, 'wd'), 'rpm', '-qa']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("hsh-run: invalid option -- 'a'");
    const built = argv.hshRun({ workdir: path.join(fx.fake.root, 'wd'), number: 1, program: ['rpm', '-qa'] });
    expect(built.indexOf('--')).toBeLessThan(built.indexOf('rpm'));
  });

  it('contract: vm-run rejects unknown options, and --kvm=cond without KVM exits 0 running nothing', () => {
    const bad = tool('vm-run', ['--no-such', 'true']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('Unknown option --no-such\n');
    const cond = tool('vm-run', ['--kvm=cond', 'false']);
    expect(cond.status).toBe(0);
    expect(cond.stdout).toBe('Warning: Not running due to no KVM support (exit 0).\n');
    expect(SKIP_MARKERS.some((m) => cond.stdout.includes(m))).toBe(true);
  });

  it('contract: sborka never builds vm-run --kvm=cond', () => {
    for (const kvm of ['try', 'tcg'] as const) expect(argv.vmRun({ kvm, command: ['true'] }).join(' ')).not.toContain('cond');
  });

  it('contract: the ** image: line and the profile fragment', () => {
    expect(parseImageLine('** image: /out/alt-p11-xfce-20250101-x86_64.iso [1.4G]')).toEqual({ path: '/out/alt-p11-xfce-20250101-x86_64.iso', size: '1.4G' });
    expect(parseImageLine('** goal: distro/regular-xfce.iso')).toBeUndefined();
    expect(profileFragment({ cls: 'distro', base: 'regular-xfce', name: 'regular-xfce-sborka', packages: ['mc'], kernel: 'std-def' }))
      .toBe('# written by sborka\ndistro/regular-xfce-sborka: distro/regular-xfce\n\t@$(call set,KFLAVOURS,std-def)\n\t@$(call add,THE_PACKAGES,mc)\n');
    expect(() => profileFragment({ cls: 'distro', base: 'x', name: 'y', packages: ["a'b"] })).toThrow(/not|cannot/);
  });

  it('contract: a host missing /dev/kvm in allowed_devices gets the exact fix', () => {
    const files = [
      { path: '/etc/hasher-priv/system', text: 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts\nallowed_devices=/dev/fuse\n' },
      { path: '/etc/hasher-priv/user.d/builder', text: 'user1=builder_a\n' },
    ];
    expect(privProblems(files, { mountpoints: ['/proc'], devices: ['/dev/kvm'] })).toEqual([
      'hasher-priv does not allow /dev/kvm: change line 3 of /etc/hasher-priv/system from "allowed_devices=/dev/fuse" to "allowed_devices=/dev/fuse,/dev/kvm"',
    ]);
    expect(privProblems([{ path: '/etc/hasher-priv/system', text: 'allowed_mountpoints=/proc\n' }], { mountpoints: ['/proc'], devices: ['/dev/kvm'] })).toEqual([
      'hasher-priv does not allow /dev/kvm: add the line "allowed_devices=/dev/kvm" to /etc/hasher-priv/system',
    ]);
  });
});

describe('alt image settings', () => {
  it('contract: users and the root password become an image script with their hashes quoted', () => {
    const text = usersScript({ users: [{ name: 'live', groups: ['wheel', 'audio'], passwordHash: '$6$salt$a/b.c', shell: '/bin/bash', uid: 1000 }], rootPasswordHash: "!it's" })!;
    expect(text.split('\n')).toEqual([
      '#!/bin/sh -efu', "# written by sborka: the recipe's users and root password", '',
      "id -u 'live' >/dev/null 2>&1 || useradd -m -u 1000 -s '/bin/bash' 'live'",
      "usermod -a -G 'wheel,audio' 'live'",
      "usermod -p '$6$salt$a/b.c' 'live'",
      "usermod -p '!it'\\''s' root",
      '',
    ]);
    expect(spawnSync('sh', ['-n', '-c', text]).status).toBe(0);
    expect(usersScript({ users: [], rootPasswordHash: undefined })).toBeUndefined();
    expect(() => usersScript({ users: [{ name: 'x; rm -rf /', groups: [] }] })).toThrow(/not a valid login name/);
  });

  it('contract: a post-install script runs by its interpreter', () => {
    expect(imageScript('/bin/sh', 'echo hi\n')).toBe('#!/bin/sh\necho hi\n');
    expect(imageScript('/bin/sh', '#!/bin/sh\necho hi\n')).toBe('#!/bin/sh\necho hi\n');
    expect(imageScript('/usr/bin/python3', '#!/bin/sh\nprint(1)\n')).toBe('#!/usr/bin/python3\n#!/bin/sh\nprint(1)\n');
  });

  it('contract: root password, post-install scripts (file and inline) and a file overlay reach mkimage-profiles', async () => {
    const dir = path.join(fx.fake.root, 'recipe');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'cleanup.sh'), 'rm -f /etc/machine-id\n');
    fs.writeFileSync(path.join(dir, 'issue'), 'Welcome\n');
    const patch = (id: string, st: Record<string, unknown>) => {
      if (id !== 'configure') return st;
      const p = st.params as { settings: Record<string, unknown> };
      // The distribution's scripts stay image scripts; a partner's (isolation vm) run in vm-run (partner-vm.test.ts).
      return { ...st, params: { ...p,
        settings: { ...p.settings, rootPasswordHash: '$6$x$y' },
        isolation: 'host-sandbox',
        recipeDir: dir,
        overlays: [{ src: 'issue', dest: '/etc/issue' }],
        scripts: [
          { stage: 'post-install', interpreter: '/bin/sh', file: 'cleanup.sh' },
          { stage: 'post-install', interpreter: '/bin/bash', inline: 'echo done' },
        ] } };
    };
    const r = await chain('x86_64', patch);
    const image = fs.readFileSync(path.join(r['build-qcow2']!.outputDir, 'acme-workstation-11.0-x86_64-acme-rt.qcow2'), 'utf8').split('\n');
    expect(image).toEqual(expect.arrayContaining(['file /etc/issue', 'image-script 60-sborka-users', 'image-script 95-sborka-post-install-01', 'image-script 95-sborka-post-install-02', 'shadow-utils\t1.0\talt1']));
    const feature = path.join(r.configure!.outputDir, 'mkimage-feature');
    expect(fs.readFileSync(path.join(feature, 'rootfs', 'image-scripts.d', '95-sborka-post-install-01'), 'utf8')).toBe('#!/bin/sh\nrm -f /etc/machine-id\n');
    expect(fs.readFileSync(path.join(feature, 'rootfs', 'image-scripts.d', '60-sborka-users'), 'utf8')).toContain("usermod -p '$6$x$y' root");
    expect(fs.statSync(path.join(feature, 'rootfs', 'image-scripts.d', '95-sborka-post-install-02')).mode & 0o111).toBe(0o111);
    expect(fs.readFileSync(path.join(feature, 'config.mk'), 'utf8')).toContain('use/sborka:\n\t@$(call add_feature)');
  });

  it('contract: an overlay that does not exist is a bad input, not a silent skip', async () => {
    const results: Record<string, StepResult> = {};
    for (const id of ['resolve', 'prepare-root']) {
      const st = stepOf(id);
      results[id] = await runStep(st, Object.fromEntries(st.needs.map((n) => [n, results[n]!.key])));
    }
    const st = stepOf('configure') as unknown as { params: Record<string, unknown> };
    const bad = { ...st, params: { ...st.params, recipeDir: fx.fake.root, overlays: [{ src: 'nope', dest: '/' }] } };
    await expect(runStep(bad, { 'prepare-root': results['prepare-root']!.key })).rejects.toMatchObject({ type: 'BadInput', message: expect.stringContaining('does not exist in the recipe directory') });
  });
});

describe('alt workers', () => {
  const host = (arches: string[], emulate: string[] = []) => AltHost.parse({ hasherDir: '/tmp/.private/u/sborka', user: 'u', uid: 1000, arches, emulate, stateDir: '/tmp/s' });

  it('contract: a host serves its native arches\' queues and the emulated queues of the arches it emulates, e2k only when declared', () => {
    expect(altQueueProblems(host(['aarch64']), ['build-aarch64', 'sborka'])).toEqual([]);
    expect(altQueueProblems(host(['x86_64'], ['riscv64']), ['build-riscv64-emulated'])).toEqual([]);
    // An emulating host never polls the native queue: native hosts get every step first.
    expect(altQueueProblems(host(['x86_64'], ['riscv64']), ['build-riscv64'])).toEqual([
      'queue build-riscv64: this worker emulates riscv64, so it serves build-riscv64-emulated, where steps go once no native worker took them in time; build-riscv64 is for hosts that build riscv64 natively (SBORKA_ALT_ARCHES=riscv64)',
    ]);
    expect(altQueueProblems(host(['x86_64', 'riscv64'], ['riscv64']), ['build-riscv64', 'build-riscv64-emulated'])).toEqual([]);
    expect(altQueueProblems(host(['x86_64']), ['build-aarch64', 'build-aarch64-emulated'])).toEqual([
      'queue build-aarch64: this worker builds x86_64 natively; aarch64 needs a native worker (SBORKA_ALT_ARCHES=aarch64), or SBORKA_ALT_EMULATE=aarch64 to serve build-aarch64-emulated',
      'queue build-aarch64-emulated: this worker builds x86_64 natively and emulates nothing; aarch64 needs a native worker or SBORKA_ALT_EMULATE=aarch64',
    ]);
    expect(altQueueProblems(host(['x86_64'], ['aarch64']), ['build-e2k'])[0]).toMatch(/^queue build-e2k: this host does not declare an e2k arch .*cannot be emulated$/);
    expect(altQueueProblems(host(['e2kv5']), ['build-e2k'])).toEqual([]);
    expect(altQueueProblems(host(['e2kv5'], ['e2kv4']), ['build-e2k-emulated'])).toEqual([
      'queue build-e2k-emulated: e2k cannot be emulated; e2k steps go only to build-e2k, served by e2k hosts that declare their generation (SBORKA_ALT_ARCHES)',
    ]);
    expect(altQueueProblems(host(['x86_64']), ['build-foo'])[0]).toMatch(/^queue build-foo: not an arch queue \(expected build-x86_64, .*, build-e2k, build-<arch>-emulated or sborka\)$/);
  });

  it('contract: by default a host serves its native queues and the emulated queues of what it emulates (never e2k\'s)', () => {
    expect(altDefaultQueues(host(['x86_64'], ['riscv64', 'aarch64']))).toEqual(['build-x86_64', 'build-riscv64-emulated', 'build-aarch64-emulated']);
    // Built natively already: its native queue is enough.
    expect(altDefaultQueues(host(['x86_64', 'riscv64'], ['riscv64']))).toEqual(['build-x86_64', 'build-riscv64']);
    expect(altDefaultQueues(host(['e2kv5', 'e2kv6'], ['e2kv4', 'x86_64']))).toEqual(['build-e2k', 'build-x86_64-emulated']);
  });

  it('contract: sborka worker --toolchain alt refuses at start, before connecting, queues the host cannot serve and every host problem', async () => {
    const env = { SBORKA_ALT_ARCHES: 'x86_64', SBORKA_ALT_EMULATE: 'aarch64', SBORKA_ALT_STATE_DIR: fx.stateDir, SBORKA_ALT_PROFILES: fx.fake.profiles };
    // Run as root here, the real hasher-priv would serve no step: the worker says so at start.
    const asRoot = process.getuid?.() === 0;
    const setup = () => altWorkerSetup(['build-aarch64', 'build-riscv64', 'build-e2k'], env);
    expect(setup).toThrow(
      /refusing to start; this host cannot serve:\n {2}queue build-aarch64: this worker emulates aarch64, so it serves build-aarch64-emulated.*\n {2}queue build-riscv64: .*SBORKA_ALT_EMULATE=riscv64 to serve build-riscv64-emulated\n {2}queue build-e2k: this host does not declare an e2k arch/,
    );
    if (asRoot) expect(setup).toThrow(/\n {2}this worker runs as root \(uid 0\), and hasher-priv refuses such a caller \("invalid uid: 0"\).*hasher-useradd builder/);
    expect(() => altWorkerSetup(['build-x86_64'], { SBORKA_ALT_ARCHES: 'vax' })).toThrow(/SBORKA_ALT_\*\) are invalid: arches\.0/);

    // Through the command itself: the refusal comes before any Temporal connection.
    const saved = { ...process.env };
    Object.assign(process.env, { SBORKA_ALT_ARCHES: 'x86_64', SBORKA_ALT_EMULATE: '', SBORKA_TEMPORAL_ADDRESS: '127.0.0.1:1' });
    try {
      const { workerCommand } = await import('../../cli/commands/worker');
      const io = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
      await expect(workerCommand.run(['--toolchain', 'alt', '--queue', 'build-aarch64'], io)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('queue build-aarch64: this worker builds x86_64 natively; aarch64 needs a native worker') });
      await expect(workerCommand.run(['--toolchain', 'alt', '--queue', 'build-e2k'], io)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('e2k steps go only to e2k hosts') });
      await expect(workerCommand.run(['--toolchain', 'gentoo'], io)).rejects.toMatchObject({ exitCode: 2 });
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe('alt steps', () => {
  it('contract: a full product build: resolve, prepare-root, configure, build iso and qcow2, run test', async () => {
    const r = await chain();
    const lock = JSON.parse(fs.readFileSync(path.join(r.resolve!.outputDir, 'packages.lock.json'), 'utf8'));
    expect(lock.packages.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['acme-agent', 'firefox-esr', 'kernel-image-acme-rt', 'setup', 'rpm']));
    const iso = r['build-iso']!;
    expect(iso.outputs.files.map((f) => f.path)).toEqual(expect.arrayContaining(['acme-workstation-11.0-x86_64-acme-rt.iso', 'list-rpms.txt', 'rpm-qa.tsv', 'reports/list-srpms.txt', 'reports/pkg.list', 'reports/build.cfg']));
    const qa = fs.readFileSync(path.join(iso.outputDir, 'rpm-qa.tsv'), 'utf8');
    expect(qa.split('\n')[0]).toBe('name\tepoch\tversion\trelease\tarch\tlicense\tsourcerpm');
    expect(qa).toContain('acme-agent\t(none)\t1.0\talt1\tx86_64\tLicenseRef-proprietary\tacme-agent-1.0-alt1.src.rpm');
    // Settings, users, overlays: m-p variables and our feature, in the image.
    const image = fs.readFileSync(path.join(iso.outputDir, 'acme-workstation-11.0-x86_64-acme-rt.iso'), 'utf8').split('\n');
    expect(image).toEqual(expect.arrayContaining([
      'var TARGET_HOSTNAME alt-xfce', 'var TIME_ZONE Europe/Moscow', 'var LOCALE ru_RU', 'var SERVICES_ENABLE lightdm NetworkManager',
      'file /etc/motd', 'image-script 60-sborka-users',
    ]));
    expect(r.configure!.outputs.values).toMatchObject({ imageScripts: ['60-sborka-users'], overlayFiles: 1, unapplied: [] });
    const cfg = fs.readFileSync(path.join(iso.outputDir, 'reports', 'build.cfg'), 'utf8');
    expect(cfg.split('\n')[1]).toBe('distro/regular-xfce-sborka: distro/regular-xfce use/l10n use/datetime use/services use/net use/sborka');
    const make = callsOf('make');
    expect(make[0]).toEqual(expect.arrayContaining(['ARCH=x86_64', 'BRANCH=p11', 'REPORT=1', 'DEBUG=1', 'distro/regular-xfce-sborka.iso']));
    expect(make[1]).toEqual(expect.arrayContaining(['vm/regular-xfce-sborka.qcow2', 'VM_SIZE=25769803776']));
    // Each step took a subconfig of its own and handed it back.
    for (const c of callsOf('hsh')) expect(c.some((a) => /^--number=[1-4]$/.test(a))).toBe(true);

    const test = stepOf('test-run-1');
    const ran = await runStep(test, { 'build-iso': iso.key, 'build-qcow2': r['build-qcow2']!.key });
    expect(ran.outputs.values).toMatchObject({ passed: true, vm: true, kvm: true });
    const vm = callsOf('vm-run')[0]!;
    expect(vm).toEqual(['--kvm=try', '--sbin', '--', 'rpm', '-q', 'firefox-esr']);
    expect(callsOf('hsh-run').find((c) => c.includes('vm-run'))).toEqual(expect.arrayContaining(['--mountpoints=/proc,/dev/pts,/dev/kvm']));
    expect(callsOf('hsh-run').find((c) => c.includes('vm-run'))).not.toContain('--rooter');
  });

  it('contract: aarch64 on an x86_64 host is built under hsh --with-qemu', async () => {
    await chain('aarch64');
    expect(callsOf('hsh').filter((c) => c.includes('--initroot-only')).every((c) => c.includes('--with-qemu=aarch64') && c.includes('--target=aarch64'))).toBe(true);
    expect(callsOf('make')[0]).toContain('ARCH=aarch64');
  });

  it('contract: a partner source package is built with hsh, then installed and in the image', async () => {
    // A recipe directory of the test's own: the recipe's `sources "srpms/acme"` and one more.
    const recipeDir = path.join(fx.fake.root, 'recipe');
    fs.cpSync(path.resolve(__dirname, '../../products/srpms/acme'), path.join(recipeDir, 'srpms', 'acme'), { recursive: true });
    const srpms = path.join(recipeDir, 'srpms-extra');
    fs.mkdirSync(srpms);
    fs.writeFileSync(path.join(srpms, 'kernel-image-acme-rt-6.6.1-alt1.src.rpm'), 'License: GPL-2.0-only\n');
    // The mirror has no such kernel: only the partner's build can provide it.
    const index = path.join(fx.fake.state, 'repo', 'x86_64.tsv');
    fs.writeFileSync(index, fs.readFileSync(index, 'utf8').split('\n').filter((l) => !l.startsWith('kernel-image-acme-rt\t')).join('\n'));
    const withSources = (id: string, s: Record<string, unknown>) =>
      id === 'resolve' ? { ...s, params: { ...(s.params as object), recipeDir, sources: [...((s.params as { sources: string[] }).sources), 'srpms-extra'] } } : s;
    const r = await chain('x86_64', withSources);
    const build = callsOf('hsh').find((c) => c.some((a) => a.endsWith('.src.rpm')))!;
    expect(build).toEqual(expect.arrayContaining(['--with-stuff', '--target=x86_64']));
    expect(r.resolve!.outputs.files.map((f) => f.path)).toContain('partner-rpms/x86_64/RPMS.hasher/kernel-image-acme-rt-6.6.1-alt1.x86_64.rpm');
    const list = fs.readFileSync(path.join(r['build-iso']!.outputDir, 'list-rpms.txt'), 'utf8');
    expect(list).toContain('kernel-image-acme-rt-6.6.1-alt1.x86_64.rpm');
    const lock = JSON.parse(fs.readFileSync(path.join(r['build-iso']!.outputDir, 'packages.lock.json'), 'utf8'));
    // The recipe's own `sources "srpms/acme"` (the agent) and the test's kernel source package.
    expect(lock.built).toEqual([
      { file: 'acme-agent-1.4.2-alt1.x86_64.rpm', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      { file: 'kernel-image-acme-rt-6.6.1-alt1.x86_64.rpm', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
  });

  it('contract: a hasher subconfig held by another process fails the attempt with a clear, retryable error', async () => {
    for (const n of [1, 2, 3, 4]) fx.fake.set(`locked/${n}`);
    const err = await runStep(stepOf('resolve')).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'StepFailed', nonRetryable: false, message: expect.stringContaining('is locked by another process') });
    expect(callsOf('hsh')[0]).toContain('--no-wait-lock');
  });

  it('contract: every subconfig held by another running build: the step waits, then takes the one freed', async () => {
    // Another worker of this host (a live pid) holds all four slots; one is freed after 1.5 s.
    const slots = path.join(fx.fake.host.stateDir, 'slots');
    fs.mkdirSync(slots, { recursive: true });
    for (const n of [1, 2, 3, 4]) fs.writeFileSync(path.join(slots, `${n}.lock`), `${process.pid} other-build resolve\n`);
    const freed = setTimeout(() => fs.rmSync(path.join(slots, '3.lock')), 1500);
    const started = Date.now();
    try {
      const r = await runStep(stepOf('resolve'));
      expect(r.outputs.values).toMatchObject({ packages: expect.any(Number) });
    } finally {
      clearTimeout(freed);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(callsOf('hsh').every((c) => c.includes('--number=3'))).toBe(true);
    // The others' locks are theirs still; ours was handed back.
    expect(fs.readdirSync(slots).sort()).toEqual(['1.lock', '2.lock', '4.lock']);
  });

  it('contract: a slot lock left by a dead build is taken over', async () => {
    const slots = path.join(fx.fake.host.stateDir, 'slots');
    fs.mkdirSync(slots, { recursive: true });
    const dead = spawnSync('true').pid!;
    for (const n of [1, 2, 3, 4]) fs.writeFileSync(path.join(slots, `${n}.lock`), `${n === 2 ? dead : process.pid} other\n`);
    await runStep(stepOf('resolve'));
    expect(callsOf('hsh').every((c) => c.includes('--number=2'))).toBe(true);
  });

  it('contract: a failed mkimage-profiles build keeps its log and reports', async () => {
    const results: Record<string, StepResult> = {};
    for (const id of ['resolve', 'prepare-root', 'configure']) {
      const s = stepOf(id);
      results[id] = await runStep(s, Object.fromEntries(s.needs.map((n) => [n, results[n]!.key])));
    }
    fx.fake.set('make-fail', 'E: Couldn\'t find package acme-agent\n');
    const err = (await runStep(stepOf('build-iso'), { configure: results.configure!.key }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ type: 'StepFailed', message: expect.stringContaining('build log and reports are kept in') });
    const kept = /kept in (\S+)/.exec(err.message)![1]!;
    expect(fs.readFileSync(path.join(kept, 'build.log'), 'utf8')).toContain("E: Couldn't find package acme-agent");
    // The log's own error line is in the step's message (lib/build.mk 116-118 shows the same
    // lines); m-p makes no reports of a failed build (Makefile:82 exits before reports.mk).
    expect(err.message).toContain("mkimage-profiles failed:\n  E: Couldn't find package acme-agent");
  });

  it('contract: a test on a host missing /dev/kvm in allowed_devices fails with the exact fix', async () => {
    const r = await chain();
    fx.fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts\n');
    const err = await runStep(stepOf('test-run-1'), { 'build-iso': r['build-iso']!.key, 'build-qcow2': r['build-qcow2']!.key }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'BadInput',
      message: expect.stringContaining(`hasher-priv does not allow /dev/kvm: add the line "allowed_devices=/dev/kvm" to ${fx.fake.host.hasherPrivDir}/system`),
    });
  });

  it('contract: hasher-priv work limits (exit 143) are reported as such', async () => {
    fx.fake.set('wlimit', 'idle time limit (3600 seconds) exceeded');
    const err = await runStep(stepOf('resolve')).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'StepFailed', message: expect.stringContaining("ended by hasher-priv's work limits (exit 143: idle time limit (3600 seconds) exceeded)") });
  });
});
