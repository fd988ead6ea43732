// Contract tests of the alt `boot` test. hasher (hsh) and mkimage-profiles' `make` are the
// fakes of test/alt/fakes, but the image the fake make "builds" is a real bootable x86_64
// disk: the debian img writer's, made from the shared bookworm test root (and converted to
// qcow2), and the boot test boots it with real qemu-system-x86_64 under TCG. Also: a text
// that never comes fails with the console's tail and keeps the console, cancellation leaves
// no qemu, and the pure parts (argv per arch and format, accelerator, firmware, which build).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { altBootArgv, builtImage, chooseBootAccel } from '../../activities/alt/boot';
import { bootFirmware } from '../../activities/alt/firmware';
import { StepInput, type StepProgress, type StepResult } from '../../plan/step-contract';
import { stepLogPath } from '../../activities/step-log';
import type { StoreEntry } from '../../activities/store';
import type { KvmStatus } from '../../activities/vm/kvm';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig, waitFor } from '../activities/helpers';
import { buildStep, commitConfiguredRoot, debianStep, debianTestRoot, qemuUnder, runner } from '../debian/image-fixture';
import { runInAttemptEnv } from '../activities/attempt-env';
import { fakeHost, recipePlan, useFakes, type FakeHost } from './helpers';

jest.setTimeout(900_000);

const GiB = 1024 * 1024 * 1024;
const VARIANT = 'acme-workstation.x86_64';

let dir: string;
let config: Config;
let fake: FakeHost;
let undo: (() => void) | undefined;
const built: Record<string, StepResult> = {};

const plan = recipePlan('products/partner-acme.sborka') as unknown as {
  variants: Array<{ arch: string; steps: Array<{ id: string; kind: string; params: Record<string, unknown>; needs: string[] }> }>;
};
const stepOf = (id: string) => plan.variants.find((v) => v.arch === 'x86_64')!.steps.find((s) => s.id === id)!;

/** The recipe's own boot test step, with this test's expectation and the builds it boots. */
const bootStep = (test: { expect: string; timeoutMs: number }, needs: string[]) => {
  const s = stepOf('test-boot');
  return { ...s, needs, params: { ...s.params, test: { type: 'boot', ...test } } };
};

function altRun(step: unknown, inputs: Record<string, string>, env = new MockActivityEnvironment({}, { logger: quietSdkLogger })): Promise<StepResult> {
  const registry = defaultRegistry({ alt: { host: fake.host } });
  const { runStep } = createActivities({ config, logger: silentLogger, registry, killGraceMs: 3000 });
  const input = StepInput.parse({ buildId: 'b-boot', variantId: VARIANT, toolchain: { name: 'alt', version: '1' }, step, inputs });
  // Through the attempt interceptor, as a worker runs it: it owns the heartbeat the cancel test watches.
  return runInAttemptEnv(env, config.stateDir, () => runStep(input));
}

beforeAll(async () => {
  const root = await debianTestRoot();
  dir = makeTmpDir('sborka-alt-boot-');
  config = testConfig(dir);
  const configureKey = await commitConfiguredRoot(config, root.tar, { kernel: root.kernel, initrd: root.initrd });
  const img = await runner(config)(debianStep(buildStep('build-img', { format: 'img', sizeBytes: GiB }, 'disk.img'), { configure: configureKey }));
  const raw = path.join(img.outputDir, 'disk.img');
  const qcow2 = path.join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);

  // KVM off for the host: this machine's /dev/kvm fails, and the probe is covered below.
  fake = fakeHost({ arches: ['x86_64'], kvm: 'no' });
  undo = useFakes(fake);
  fake.set('make-image.qcow2', qcow2);
  fake.set('make-image.img', raw);
  for (const id of ['resolve', 'prepare-root', 'configure', 'build-qcow2']) {
    const s = stepOf(id);
    built[id] = await altRun(s, Object.fromEntries(s.needs.map((n) => [n, built[n]!.key])));
  }
  // An `output img` build of the same product (the recipe has iso and qcow2).
  const q = stepOf('build-qcow2');
  const imgStep = { ...q, id: 'build-img', params: { ...q.params, output: { format: 'img', sizeBytes: GiB }, fileName: 'acme-workstation-x86_64.img' } };
  built['build-img'] = await altRun(imgStep, { configure: built.configure!.key });
});

afterAll(() => {
  undo?.();
  if (fake) removeDir(fake.root);
  if (dir) removeDir(dir);
});
afterEach(() => expect(qemuUnder(dir)).toEqual([]));

describe('alt boot test with real qemu', () => {
  it('contract (fake make/hsh): boots the qcow2 mkimage-profiles made and sees systemd start', async () => {
    const qcow2 = built['build-qcow2']!;
    expect(qcow2.outputs.values).toMatchObject({ image: 'acme-workstation-11.0-x86_64-acme-rt.qcow2', target: 'vm/regular-xfce.qcow2' });
    fake.clearCalls();
    const r = await altRun(bootStep({ expect: 'Welcome to', timeoutMs: 300_000 }, ['build-qcow2']), { 'build-qcow2': qcow2.key });
    // No hasher, no vm-run: the image boots on the host.
    expect(fake.calls()).toEqual([]);
    const sha256 = qcow2.outputs.files.find((f) => f.path === 'acme-workstation-11.0-x86_64-acme-rt.qcow2')!.sha256;
    expect(r.outputs.values).toMatchObject({ passed: true, accel: 'tcg', image: sha256 });
    const consoleLog = fs.readFileSync(path.join(r.outputDir, 'console.log'), 'utf8');
    expect(consoleLog).toMatch(/Linux version 6\.1\./);
    expect(consoleLog).toContain('Welcome to');
    const result = JSON.parse(fs.readFileSync(path.join(r.outputDir, 'result.json'), 'utf8'));
    expect(result).toMatchObject({
      type: 'boot', passed: true, expect: 'Welcome to', arch: 'x86_64', accel: 'tcg', accelReason: expect.stringContaining('SBORKA_ALT_KVM=no'),
      image: { step: 'build-qcow2', file: 'acme-workstation-11.0-x86_64-acme-rt.qcow2', target: 'vm/regular-xfce.qcow2', sha256 },
    });
    expect(result.qemu.slice(0, 3)).toEqual(['qemu-system-x86_64', '-machine', 'pc']);
    expect(result.qemu).toEqual(expect.arrayContaining(['-accel', 'tcg', 'virtio-blk-pci,drive=disk,bootindex=0']));
    expect(result.qemu.find((a: string) => a.includes('format=qcow2'))).toMatch(/,snapshot=on$/);
    const log = fs.readFileSync(r.logPath, 'utf8');
    expect(log).toContain('with -accel tcg: KVM is turned off for this host');
    expect(log).toContain('serial console of the VM');
  });

  it('contract (fake make/hsh): a text that never comes fails with the console tail and keeps the console', async () => {
    const img = built['build-img']!;
    expect(img.outputs.values).toMatchObject({ target: 'vm/regular-xfce.img' });
    const started = Date.now();
    const err = await altRun(bootStep({ expect: 'no such text', timeoutMs: 20_000 }, ['build-img']), { 'build-img': img.key }).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({
      type: 'PolicyViolation', nonRetryable: true,
      message: expect.stringMatching(/"no such text" did not appear on the console within 20000 ms[\s\S]*last console lines:\n.*\S/),
    });
    expect(Date.now() - started).toBeLessThan(90_000);
    // The failed step's outputs are discarded; its log keeps the whole console.
    const log = fs.readFileSync(stepLogPath(config.logDir, 'b-boot', VARIANT, 'test-boot'), 'utf8');
    expect(log).toContain('serial console of the VM');
    expect(log).toMatch(/Linux version 6\.1\./);
    expect(log).toMatch(/format=raw,if=none,id=disk,snapshot=on/);
  });

  it('contract (fake make/hsh): a cancelled boot test leaves no qemu behind', async () => {
    const env = new MockActivityEnvironment({}, { logger: quietSdkLogger });
    const running = altRun(bootStep({ expect: 'no such text', timeoutMs: 600_000 }, ['build-img']), { 'build-img': built['build-img']!.key }, env);
    const failed = running.catch((e: unknown) => e);
    // Cancelled mid-boot: once the guest is writing to its console.
    await waitFor((l) => env.on('heartbeat', l), (d) => ((d as StepProgress).phase === 'booting' && (d as StepProgress).lastLine ? true : undefined));
    expect(qemuUnder(dir)).toHaveLength(1);
    env.cancel();
    expect(await failed).toBeInstanceOf(CancelledFailure);
  });
});

describe('alt boot test without qemu', () => {
  const consoleLog = '/w/console,1.log';

  it('contract: qcow2 and img boot as a virtio disk, an iso as a CD-ROM; aarch64 with UEFI, riscv64 with OpenSBI and U-Boot', () => {
    const disk = altBootArgv({ arch: 'x86_64', accel: 'tcg', consoleLog, firmware: {}, medium: { path: '/s/a.img', format: 'raw', snapshot: true } });
    expect(disk).toEqual([
      'qemu-system-x86_64', '-machine', 'pc', '-cpu', 'qemu64', '-accel', 'tcg', '-m', '1024', '-smp', '2', '-nodefaults', '-no-user-config',
      '-display', 'none', '-monitor', 'none', '-serial', 'file:/w/console,,1.log', '-no-reboot', '-nic', 'none',
      '-drive', 'file=/s/a.img,format=raw,if=none,id=disk,snapshot=on', '-device', 'virtio-blk-pci,drive=disk,bootindex=0',
    ]);
    const iso = altBootArgv({ arch: 'x86_64', accel: 'kvm', consoleLog, firmware: {}, medium: { path: '/s/a.iso', format: 'iso' } });
    expect(iso).toEqual(expect.arrayContaining(['-cpu', 'host', '-accel', 'kvm']));
    expect(iso.slice(-4)).toEqual(['-drive', 'file=/s/a.iso,format=raw,if=none,id=cd,media=cdrom,readonly=on', '-device', 'ide-cd,drive=cd,bootindex=0']);
    const arm = altBootArgv({ arch: 'aarch64', accel: 'tcg', consoleLog, firmware: { bios: '/usr/share/AAVMF/QEMU_EFI.fd' }, medium: { path: '/s/a.iso', format: 'iso' } });
    expect(arm.slice(0, 7)).toEqual(['qemu-system-aarch64', '-machine', 'virt', '-cpu', 'cortex-a57', '-bios', '/usr/share/AAVMF/QEMU_EFI.fd']);
    expect(arm.slice(-6)).toEqual(['-device', 'virtio-scsi-pci,id=scsi', '-drive', 'file=/s/a.iso,format=raw,if=none,id=cd,media=cdrom,readonly=on', '-device', 'scsi-cd,drive=cd,bus=scsi.0,bootindex=0']);
    expect(altBootArgv({ arch: 'aarch64', accel: 'kvm', consoleLog, firmware: {}, medium: { path: '/s/a.qcow2', format: 'qcow2', snapshot: true } }).slice(0, 5))
      .toEqual(['qemu-system-aarch64', '-machine', 'virt,gic-version=host', '-cpu', 'host']);
    const rv = altBootArgv({ arch: 'riscv64', accel: 'tcg', consoleLog, firmware: { loader: '/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf' }, medium: { path: '/s/a.qcow2', format: 'qcow2', snapshot: true } });
    expect(rv.slice(0, 5)).toEqual(['qemu-system-riscv64', '-machine', 'virt', '-bios', 'default']);
    expect(rv).toEqual(expect.arrayContaining(['-kernel', '/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf']));
    expect(rv).toContain('file=/s/a.qcow2,format=qcow2,if=none,id=disk,snapshot=on');
    expect(() => altBootArgv({ arch: 'e2kv5', accel: 'tcg', consoleLog, firmware: {}, medium: { path: '/s/a.img', format: 'raw', snapshot: true } }))
      .toThrow(expect.objectContaining({ type: 'BadInput', message: expect.stringContaining('arch e2kv5 cannot be booted by the alt toolchain') }));
  });

  it('contract: KVM only when the probe booted a guest with it, TCG otherwise', async () => {
    const status = (usable: boolean): KvmStatus => ({ usable, hostArch: 'x86_64', reason: usable ? 'kvm booted a x86_64 guest in 900 ms' : 'qemu -accel kvm: KVM internal error' });
    let probed = 0;
    const probe = (s: KvmStatus) => async () => {
      probed++;
      return s;
    };
    expect(await chooseBootAccel('no', 'x86_64', probe(status(true)), 'x86_64')).toMatchObject({ accel: 'tcg' });
    expect(probed).toBe(0);
    // This machine's case: /dev/kvm is there and KVM fails, so 'yes' and 'auto' are probed.
    expect(await chooseBootAccel('yes', 'x86_64', probe(status(false)), 'x86_64')).toEqual({ accel: 'tcg', reason: 'falling back to TCG: qemu -accel kvm: KVM internal error' });
    expect(await chooseBootAccel('auto', 'x86_64', probe(status(true)), 'x86_64')).toEqual({ accel: 'kvm', reason: 'kvm booted a x86_64 guest in 900 ms' });
    expect(await chooseBootAccel('auto', 'i586', probe(status(true)), 'x86_64')).toMatchObject({ accel: 'kvm' });
    expect(probed).toBe(3);
    expect(await chooseBootAccel('auto', 'aarch64', probe(status(true)), 'x86_64')).toEqual({ accel: 'tcg', reason: 'KVM cannot run a aarch64 guest on a x86_64 host' });
    expect(probed).toBe(3);
    expect(await chooseBootAccel('auto', 'x86_64', async () => {
      throw new Error('deb.debian.org unreachable');
    }, 'x86_64')).toEqual({ accel: 'tcg', reason: 'the KVM probe could not run (deb.debian.org unreachable); using TCG' });
  });

  it('contract: aarch64 UEFI firmware and riscv64 U-Boot are found where ALT or Debian installs them, or the package to install is named', () => {
    const root = makeTmpDir('sborka-alt-fw-');
    try {
      expect(bootFirmware('x86_64', { root })).toEqual({});
      expect(() => bootFirmware('riscv64', { root, osRelease: 'ID=altlinux\n' })).toThrow(/needs U-Boot for qemu's riscv64 virt machine in S-mode, .* install the u-boot-qemu package$/);
      fs.mkdirSync(path.join(root, 'usr/lib/u-boot/qemu-riscv64_smode'), { recursive: true });
      fs.writeFileSync(path.join(root, 'usr/lib/u-boot/qemu-riscv64_smode/uboot.elf'), '');
      expect(bootFirmware('riscv64', { root })).toEqual({ loader: path.join(root, 'usr/lib/u-boot/qemu-riscv64_smode/uboot.elf') });
      expect(() => bootFirmware('aarch64', { root, osRelease: 'NAME="ALT Server"\nID=altlinux\n' })).toThrow(/needs UEFI firmware \(edk2\) for qemu-system-aarch64, and none of \/usr\/share\/AAVMF\/QEMU_EFI\.fd, .* exists on this host; install the edk2-aarch64 package$/);
      expect(() => bootFirmware('aarch64', { root, osRelease: 'ID=ubuntu\nID_LIKE=debian\n' })).toThrow(/install the qemu-efi-aarch64 package$/);
      expect(() => bootFirmware('aarch64', { root, osRelease: '' })).toThrow(/install edk2-aarch64 \(ALT\) or qemu-efi-aarch64 \(Debian\)$/);
      fs.mkdirSync(path.join(root, 'usr/share/qemu-efi-aarch64'), { recursive: true });
      fs.writeFileSync(path.join(root, 'usr/share/qemu-efi-aarch64/QEMU_EFI.fd'), '');
      expect(bootFirmware('aarch64', { root })).toEqual({ bios: path.join(root, 'usr/share/qemu-efi-aarch64/QEMU_EFI.fd') });
    } finally {
      removeDir(root);
    }
  });

  it('contract: of several builds the raw disk is booted, then qcow2, then the ISO; a container is not bootable', () => {
    const entry = (image: string, target: string) => ({
      outputsDir: `/store/${image}`, manifest: { outputs: { values: { image, target }, files: [{ path: image, sha256: 'a'.repeat(64), size: 1 }] } },
    }) as unknown as StoreEntry;
    const iso = entry('x.iso', 'distro/regular-xfce.iso');
    const qcow2 = entry('x.qcow2', 'vm/regular-xfce.qcow2');
    const img = entry('x.img', 'vm/regular-xfce.img');
    expect(builtImage('test-boot', { 'build-iso': iso, 'build-qcow2': qcow2, 'build-img': img })).toMatchObject({ step: 'build-img', path: '/store/x.img/x.img', type: { medium: 'raw' } });
    expect(builtImage('test-boot', { 'build-iso': iso, 'build-qcow2': qcow2 })).toMatchObject({ step: 'build-qcow2', type: { medium: 'qcow2' } });
    expect(builtImage('test-boot', { 'build-iso': iso })).toMatchObject({ step: 'build-iso', type: { medium: 'iso' }, sha256: 'a'.repeat(64) });
    expect(() => builtImage('test-boot', { 'build-tar': entry('x.tar', 've/regular-xfce.tar') }))
      .toThrow(expect.objectContaining({ type: 'BadInput', message: 'step "test-boot": none of the steps it needs (build-tar) built a bootable image (img, qcow2, img.xz, iso)' }));
  });
});
