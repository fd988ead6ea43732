// A whole foreign-architecture pipeline for the foreign*.test.ts files: resolve, prepare-root
// (unpacked only), configure through qemu-user, an img written from it and booted in a VM. Built
// once per test file (beforeAll); the .deb cache and the VM kernel cache are shared with the
// other test files, so only the first run downloads.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { Lock, LOCK_FILE } from '../../activities/debian/lock';
import { StepInput, type StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';
import { stateDir as vmStateDir } from '../vm/fixtures';
import { qemuUnder } from './image-fixture';

/** The debs downloaded by every debian test (roots.test.ts uses the same directory). */
export const DEB_CACHE = path.join(os.tmpdir(), 'sborka-debian-debs-cache');

export interface ForeignTarget {
  arch: 'aarch64' | 'riscv64';
  branch: string;
  /** The recipe's kernel flavour and the metapackage resolve must map it to. */
  kernel: string;
  kernelPackage: string;
  /** Debian installs riscv64's kernel uncompressed, as /boot/vmlinux-<release>. */
  kernelImage: 'vmlinuz' | 'vmlinux';
  packages: string[];
  /** The serial console the img's kernel command line names. */
  console: string;
}

const DEB_ARCH = { aarch64: 'arm64', riscv64: 'riscv64' } as const;

/** What the img needs to find its root on qemu's virt machine (built-in ones are skipped by update-initramfs). */
const VM_MODULES = ['virtio_pci', 'virtio_mmio', 'virtio_blk', 'ext4', 'crc32c_generic'];

/** The foreign pipelines run unless turned off (SBORKA_TEST_FOREIGN=0: about 8-10 min per arch under TCG). */
export const FOREIGN_ENABLED = process.env.SBORKA_TEST_FOREIGN !== '0';

export type Run = (step: Record<string, unknown>, inputs?: Record<string, string>) => Promise<StepResult>;

export interface ForeignEnv {
  config: Config;
  run: Run;
  restore: () => void;
}

/**
 * A runner over a fresh state dir whose VM kernels come from the tests' machine-wide cache
 * (test/vm/fixtures.ts: downloaded and built once for every test file and run).
 */
export function foreignEnv(stateDir: string): ForeignEnv {
  const saved = { cache: process.env.SBORKA_DEBIAN_CACHE_DIR };
  process.env.SBORKA_DEBIAN_CACHE_DIR = DEB_CACHE;
  const config = { ...testConfig(stateDir) };
  // The VM kernel cache lives under config.stateDir: link the shared one in.
  fs.symlinkSync(path.join(vmStateDir, 'vm-kernels'), path.join(stateDir, 'vm-kernels'));
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry(), killGraceMs: 3000 });
  let n = 0;
  const run: Run = (step, inputs = {}) => new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${++n}`, variantId: 'foreign-test', toolchain: { name: 'debian', version: '1' }, step, inputs,
  }));
  const restore = () => {
    if (saved.cache === undefined) delete process.env.SBORKA_DEBIAN_CACHE_DIR;
    else process.env.SBORKA_DEBIAN_CACHE_DIR = saved.cache;
  };
  return { config, run, restore };
}

export const target = (t: ForeignTarget) => ({ toolchain: 'debian', branch: t.branch, arch: t.arch });

export const resolveStep = (t: ForeignTarget) =>
  ({ id: 'resolve', kind: 'resolve', cacheable: false, params: { ...target(t), packages: t.packages, kernel: t.kernel } });
export const prepareStep = (t: ForeignTarget) => ({ id: 'prepare-root', kind: 'prepare-root', needs: ['resolve'], params: target(t) });
export const configureStep = (t: ForeignTarget, params: Record<string, unknown>) =>
  ({ id: 'configure', kind: 'configure', needs: ['prepare-root'], params: { ...target(t), settings: {}, ...params } });
export const imgStep = (t: ForeignTarget) =>
  ({ id: 'build-img', kind: 'build', needs: ['configure'], params: { ...target(t), output: { format: 'img', sizeBytes: 2048 * 1024 * 1024 }, fileName: 'disk.img' } });
export const testStep = (t: ForeignTarget, id: string, test: Record<string, unknown>) =>
  ({ id, kind: 'test', needs: ['build-img'], params: { ...target(t), test } });

export const readLock = (r: StepResult): Lock => Lock.parse(JSON.parse(fs.readFileSync(path.join(r.outputDir, LOCK_FILE), 'utf8')));
export const rootfsDigest = (r: StepResult) => r.outputs.files.find((f) => f.path === 'rootfs.tar')?.sha256;
export const tarList = (r: StepResult) =>
  execFileSync('tar', ['--list', '--file', path.join(r.outputDir, 'rootfs.tar')], { maxBuffer: 256 << 20 }).toString().split('\n');
export const tarRead = (r: StepResult, member: string) =>
  execFileSync('tar', ['--extract', '--to-stdout', '--file', path.join(r.outputDir, 'rootfs.tar'), member], { maxBuffer: 64 << 20 }).toString();

/** dpkg's view of the configured root: package → status. */
export function dpkgStatus(r: StepResult): Map<string, string> {
  const out = new Map<string, string>();
  for (const stanza of tarRead(r, './var/lib/dpkg/status').split(/\n\n+/)) {
    const name = /^Package: (.*)$/m.exec(stanza)?.[1];
    const status = /^Status: (.*)$/m.exec(stanza)?.[1];
    if (name && status) out.set(name, status);
  }
  return out;
}

/**
 * What the foreign pipelines give configure: settings, a user, an overlay (written under dir:
 * a motd and the VM initramfs's module list) and a post-install script that records the
 * arch it ran on in /etc/sborka/script-arch.
 */
export function foreignConfigureParams(t: ForeignTarget, dir: string): Record<string, unknown> {
  // Beside the state directory, not in it: a step may read no file under the state directory.
  const recipeDir = `${dir}-recipe`;
  const overlay = path.join(recipeDir, 'overlay');
  fs.mkdirSync(path.join(overlay, 'etc/sborka'), { recursive: true });
  fs.writeFileSync(path.join(overlay, 'etc/sborka/motd'), 'built by sborka\n');
  // A VM image's initramfs needs its disk and root fs drivers only: the list a cloud
  // recipe gives. MODULES=most packs hundreds of modules, one emulated cp each (~8 min).
  fs.mkdirSync(path.join(overlay, 'etc/initramfs-tools/conf.d'), { recursive: true });
  fs.writeFileSync(path.join(overlay, 'etc/initramfs-tools/conf.d/vm.conf'), 'MODULES=list\n');
  fs.writeFileSync(path.join(overlay, 'etc/initramfs-tools/modules'), `${VM_MODULES.join('\n')}\n`);
  return {
    settings: {
      hostname: `foreign-${t.arch}`, timezone: 'Europe/Moscow', locale: 'C.UTF-8', rootPasswordHash: '!',
      users: [{ name: 'alice', groups: ['users'], uid: 1500 }],
    },
    recipeDir,
    overlays: [{ src: 'overlay', dest: '/' }],
    scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: 'set -e\necho "sborka-script: $(uname -m) $(dpkg --print-architecture)"\nuname -m > /etc/sborka/script-arch\n' }],
  };
}

/**
 * The whole foreign pipeline for one target as a jest suite: built once in beforeAll,
 * checked by its tests, booted twice: the boot test and a run test (each boot under TCG
 * costs about a minute).
 */
export function foreignSuite(T: ForeignTarget): void {
  if (!FOREIGN_ENABLED) {
    describe.skip(`${T.arch} (${T.branch}) through qemu-user and a VM boot (turned off by SBORKA_TEST_FOREIGN=0)`, () => {
      test('skipped', () => undefined);
    });
    return;
  }
  const debArch = DEB_ARCH[T.arch];
  let dir: string;
  let env: ForeignEnv;
  let lock: StepResult;
  let prepared: StepResult;
  let configured: StepResult;
  let img: StepResult;
  const timings: Record<string, number> = {};

  async function timed<R>(name: string, f: () => Promise<R>): Promise<R> {
    const t = Date.now();
    try {
      return await f();
    } finally {
      timings[name] = Date.now() - t;
    }
  }

  beforeAll(async () => {
    dir = makeTmpDir(`sborka-foreign-${T.arch}-`);
    env = foreignEnv(dir);
    lock = await timed('resolve', () => env.run(resolveStep(T)));
    prepared = await timed('prepare-root', () => env.run(prepareStep(T), { resolve: lock.key }));
    configured = await timed('configure', () => env.run(configureStep(T, foreignConfigureParams(T, dir)), { 'prepare-root': prepared.key }));
    img = await timed('build img', () => env.run(imgStep(T), { configure: configured.key }));
  });

  afterAll(() => {
    console.log(`${T.arch} pipeline timings (ms): ${JSON.stringify(timings)}`);
    env?.restore();
    const alive = qemuUnder(dir);
    removeDir(dir);
    removeDir(`${dir}-recipe`);
    expect(alive).toEqual([]);
  });

  describe(`${T.arch} (${T.branch}) through qemu-user and a VM boot`, () => {
    test('prepare-root only unpacks; configure installs every locked package through qemu-user', () => {
      expect(prepared.outputs.values).toMatchObject({ arch: T.arch, debArch, unpacked: true });
      const l = readLock(lock);
      expect(l.kernel).toMatchObject({ flavour: T.kernel, package: T.kernelPackage });
      const status = dpkgStatus(configured);
      for (const p of l.packages) expect([p.name, status.get(p.name)]).toEqual([p.name, 'install ok installed']);
      const names = tarList(configured);
      expect(names.filter((n) => n.endsWith('.deb'))).toEqual([]);
      expect(names).not.toContain('./usr/sbin/policy-rc.d');
      expect(names).not.toContain('./var/log/dpkg.log');
      expect(tarRead(configured, './etc/machine-id')).toBe('');
      const log = fs.readFileSync(configured.logPath, 'utf8');
      expect(log).toMatch(/installing \d+ packages \(\d+ essential first\) through qemu-user/);
      // The distribution's packages and our own recipe's script: qemu-user, no VM boot, no disk.
      expect(log).toContain('this foreign arch through qemu-user');
      expect(log).not.toMatch(/"qemu-system-/);
      expect(log).not.toMatch(/"mount","-t","ext4","-o","loop,ro"/);
      expect(log).toContain(`sborka-script: ${T.arch} ${debArch}`);
    });

    test('settings, users, overlay, script and a fresh initramfs are in the root', () => {
      const release = readLock(lock).kernel!.release;
      expect(configured.outputs.values).toMatchObject({ arch: T.arch, kernel: `boot/${T.kernelImage}-${release}`, initrd: `boot/initrd.img-${release}`, kernelVersion: release });
      expect(tarList(configured)).toEqual(expect.arrayContaining([`./boot/initrd.img-${release}`, './home/alice/', './etc/sborka/motd']));
      expect(tarRead(configured, './etc/hostname')).toBe(`foreign-${T.arch}\n`);
      expect(tarRead(configured, './etc/timezone')).toBe('Europe/Moscow\n');
      expect(tarRead(configured, './etc/passwd')).toMatch(/^alice:x:1500:/m);
      expect(tarRead(configured, './etc/sborka/script-arch')).toBe(`${T.arch}\n`);
    });

    // A boot under TCG took over 10 minutes at load 20 on 2 cores (CI beside eight sessions):
    // the limits leave room for that, a hung boot still ends (the file's limit is an hour).
    test('the img boots (its own kernel and initrd, root on the virtio disk) to "login:"', async () => {
      expect(img.outputs.values).toMatchObject({ format: 'img', console: T.console });
      const r = await timed('boot test', () => env.run(testStep(T, 'test-boot', { type: 'boot', timeoutMs: 1_200_000, expect: 'login:' }), { 'build-img': img.key }));
      expect(r.outputs.values).toMatchObject({ passed: true });
      const consoleLog = fs.readFileSync(path.join(r.outputDir, 'console.log'), 'utf8');
      expect(consoleLog).toContain(`foreign-${T.arch} login:`);
      expect(consoleLog).toMatch(/Linux version \d/);
    });

    test('a `test run` command runs inside the booted img: the emulated CPU, the configured root', async () => {
      // One line from inside the VM: the running kernel's machine, what the post-install
      // script recorded, dpkg's arch, the hostname configure set and the overlay's motd.
      const argv = ['/bin/sh', '-c', 'echo "$(uname -m) $(cat /etc/sborka/script-arch) $(dpkg --print-architecture) $(cat /etc/hostname) $(cat /etc/sborka/motd)"'];
      const want = `${T.arch} ${T.arch} ${debArch} foreign-${T.arch} built by sborka`;
      const r = await timed('run test', () => env.run(testStep(T, 'test-run', { type: 'run', argv, exitCode: 0, output: want, timeoutMs: 1_200_000 }), { 'build-img': img.key }));
      expect(r.outputs.values).toMatchObject({ passed: true, exitCode: 0 });
      expect(fs.readFileSync(path.join(r.outputDir, 'stdout.txt'), 'utf8')).toBe(`${want}\n`);
      expect(fs.readFileSync(path.join(r.outputDir, 'stderr.txt'), 'utf8')).toBe('');
      const result = JSON.parse(fs.readFileSync(path.join(r.outputDir, 'result.json'), 'utf8')) as Record<string, unknown>;
      expect(result).toMatchObject({ type: 'run', passed: true, exitCode: 0, arch: T.arch, argv });
      // The harness went into a copy: the built img is untouched.
      expect(r.outputs.values.image).toBe(img.outputs.values.sha256);
      // The serial console is kept, in the outputs and in the step log.
      const consoleLog = fs.readFileSync(path.join(r.outputDir, 'console.log'), 'utf8');
      expect(consoleLog).toMatch(/Linux version \d/);
      expect(consoleLog).toMatch(/SBORKA-RUN-DONE-[0-9a-f]{16}/);
      expect(fs.readFileSync(r.logPath, 'utf8')).toContain('--- sborka: serial console of the VM:');
    });
  });
}
