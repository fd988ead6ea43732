// The debian build-root kinds for real: resolve against Debian's indexes, prepare-root with
// mmdebstrap in two cached layers, configure with settings, overlays and scripts. The .deb
// downloads are cached across runs in os.tmpdir(), so a warm run fetches only indexes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { configureHostInputs } from '../../activities/debian/configure';
import { SSH_KEYGEN_UNIT } from '../../activities/debian/ssh-host-keys';
import { aptStateDir } from '../../activities/debian/apt-state';
import { baseLayerKey } from '../../activities/debian/prepare-root';
import { Lock, LOCK_FILE } from '../../activities/debian/lock';
import { copyIntoRoot, resolveInRoot } from '../../activities/debian/root-fs';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { StepStore } from '../../activities/store';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';

jest.setTimeout(15 * 60_000);

let stateDir: string;
let config: Config;
let run: (step: Record<string, unknown>, inputs?: Record<string, string>) => Promise<StepResult>;
const savedCache = process.env.SBORKA_DEBIAN_CACHE_DIR;

beforeAll(() => {
  stateDir = makeTmpDir('sborka-roots-');
  config = testConfig(stateDir);
  process.env.SBORKA_DEBIAN_CACHE_DIR = path.join(os.tmpdir(), 'sborka-debian-debs-cache');
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry(), killGraceMs: 3000 });
  let n = 0;
  run = (step, inputs = {}) => new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${++n}`, variantId: 'roots-test', toolchain: { name: 'debian', version: '1' }, step, inputs,
  }));
});

afterAll(() => {
  if (savedCache === undefined) delete process.env.SBORKA_DEBIAN_CACHE_DIR;
  else process.env.SBORKA_DEBIAN_CACHE_DIR = savedCache;
  removeDir(stateDir);
});

const target = (arch = 'x86_64') => ({ toolchain: 'debian', branch: 'bookworm', arch });
const resolveStep = (packages: string[], extra: Record<string, unknown> = {}, arch = 'x86_64') =>
  ({ id: 'resolve', kind: 'resolve', cacheable: false, params: { ...target(arch), packages, ...extra } });
const prepareStep = (arch = 'x86_64') => ({ id: 'prepare-root', kind: 'prepare-root', needs: ['resolve'], params: target(arch) });
const configureStep = (params: Record<string, unknown>) =>
  ({ id: 'configure', kind: 'configure', needs: ['prepare-root'], params: { ...target(), settings: {}, ...params } });

const readLock = (r: StepResult): Lock => Lock.parse(JSON.parse(fs.readFileSync(path.join(r.outputDir, LOCK_FILE), 'utf8')));
const rootfsDigest = (r: StepResult) => r.outputs.files.find((f) => f.path === 'rootfs.tar')?.sha256;
const tarList = (r: StepResult) => execFileSync('tar', ['--list', '--file', path.join(r.outputDir, 'rootfs.tar')], { maxBuffer: 256 << 20 }).toString().split('\n');
const tarRead = (r: StepResult, member: string) => execFileSync('tar', ['--extract', '--to-stdout', '--file', path.join(r.outputDir, 'rootfs.tar'), member], { maxBuffer: 64 << 20 }).toString();

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('resolve', () => {
  test('gives a lock with exact versions, sources and layers; the same indexes give the same lock', async () => {
    const first = await run(resolveStep(['less']));
    const lock = readLock(first);
    expect(lock).toMatchObject({ suite: 'bookworm', arch: 'x86_64', debArch: 'amd64', mirror: 'http://deb.debian.org/debian' });
    expect(lock.sourceDateEpoch).toBeGreaterThan(1_600_000_000);
    const less = lock.packages.find((p) => p.name === 'less')!;
    expect(less).toMatchObject({ arch: 'amd64', source: 'less', layer: 'product' });
    expect(less.version).toMatch(/^\d/);
    expect(lock.packages.find((p) => p.name === 'dpkg')).toMatchObject({ layer: 'base', arch: 'amd64' });
    expect(lock.packages.find((p) => p.name === 'libc6')?.source).toBe('glibc');
    // A non-cacheable step's key is its outputs' digest: later steps cache on it. The mirror is
    // asked again, and its Release files being those of the first lock, that lock is reused.
    const again = await run(resolveStep(['less']));
    expect(again.key).toBe(first.key);
    expect(fs.readFileSync(again.logPath, 'utf8')).toMatch(/apt-get.*update[\s\S]*its lock is reused/);
  });

  test('a package that does not exist fails as BadInput naming it, with apt\'s message', async () => {
    const f = await failureOf(run(resolveStep(['less', 'sborka-no-such-package'])));
    expect(f.type).toBe('BadInput');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('package sborka-no-such-package');
    expect(f.message).toContain('E: Unable to locate package sborka-no-such-package');
  });

  test('a kernel flavour the arch lacks is BadInput listing the flavours there', async () => {
    const f = await failureOf(run(resolveStep(['less'], { kernel: 'sborka-rt' })));
    expect(f.type).toBe('BadInput');
    expect(f.message).toMatch(/linux-image-sborka-rt-amd64.*flavours there: default, .*cloud/);
  });
});

describe('prepare-root and configure (x86_64)', () => {
  let lessLock: StepResult;
  let lessRoot: StepResult;

  test('two layers, every deb downloaded into an empty cache, the base layer an entry of the store of its own', async () => {
    lessLock = await run(resolveStep(['less']));
    // This build downloads every deb (an empty cache of its own); the reproducible test below
    // makes the same root again from that cache, as another host would (no apt lists, a
    // private state directory), and must get the same bytes. This build's state directory is
    // open to others, the rebuild's private (mkdtemp's 0700): apt gives its partial/
    // directories to _apt only where _apt can reach them, and the root must not show which.
    const sharedCache = process.env.SBORKA_DEBIAN_CACHE_DIR;
    process.env.SBORKA_DEBIAN_CACHE_DIR = path.join(stateDir, 'cold-debs');
    fs.chmodSync(stateDir, 0o755);
    try {
      lessRoot = await run(prepareStep(), { resolve: lessLock.key });
    } finally {
      process.env.SBORKA_DEBIAN_CACHE_DIR = sharedCache;
      fs.chmodSync(stateDir, 0o700);
    }
    const values = lessRoot.outputs.values;
    expect(values).toMatchObject({ arch: 'x86_64', suite: 'bookworm', unpacked: false, baseCached: false, productPackages: 1, sourceDateEpoch: readLock(lessLock).sourceDateEpoch });
    const names = tarList(lessRoot);
    expect(names).toContain('./usr/bin/less');
    expect(names).not.toContain('./etc/resolv.conf');
    const store = new StepStore(config.storeDir);
    expect(await store.lookup(values.baseKey as string)).toBeDefined();

    expect(fs.readFileSync(lessRoot.logPath, 'utf8')).toContain('apt lists from this host\'s apt tree');
    // The product layer's deb came while the base layer was built, and was installed from the cache.
    expect(fs.readFileSync(lessRoot.logPath, 'utf8')).toMatch(/fetched 1 of the 1 debs the next layer lacks[\s\S]*installing the packages: 1 packages, 1 from the cache/);
    const partials = execFileSync('tar', ['--list', '--verbose', '--numeric-owner', '--file', path.join(lessRoot.outputDir, 'rootfs.tar'), './var/cache/apt/archives/partial/', './var/lib/apt/lists/partial/'], { encoding: 'utf8' });
    expect(partials.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['drwx------ 0/0', 'drwx------ 0/0']);
  });

  test('adding one package reuses the cached base layer from the store', async () => {
    const store = new StepStore(config.storeDir);
    const lock = await run(resolveStep(['less', 'file']));
    expect(baseLayerKey(readLock(lock), '1')).toBe(lessRoot.outputs.values.baseKey);
    const root = await run(prepareStep(), { resolve: lock.key });
    expect(root.key).not.toBe(lessRoot.key);
    expect(root.outputs.values).toMatchObject({ baseKey: lessRoot.outputs.values.baseKey, baseCached: true });
    expect(tarList(root)).toContain('./usr/bin/file');
    const bases = (await store.list()).filter((e) => e.kind === 'prepare-root-base');
    expect(bases.map((b) => b.key)).toEqual([lessRoot.outputs.values.baseKey]);
    expect(fs.readFileSync(root.logPath, 'utf8')).toContain(`base layer (${readLock(lock).packages.filter((p) => p.layer === 'base').length} packages): cached, store key ${String(lessRoot.outputs.values.baseKey)}`);
  });

  test('configure applies hostname, users, root password, overlay and scripts; kernel and initramfs are there; SSH host keys are made at first boot', async () => {
    const overlay = makeTmpDir('sborka-overlay-');
    fs.mkdirSync(path.join(overlay, 'etc/sborka'), { recursive: true });
    fs.writeFileSync(path.join(overlay, 'etc/sborka/motd'), 'built by sborka\n');
    fs.mkdirSync(path.join(overlay, 'lib/systemd/system'), { recursive: true });
    fs.writeFileSync(path.join(overlay, 'lib/systemd/system/sborka-demo.service'), '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n');
    const script = path.join(overlay, '..', `${path.basename(overlay)}-post.sh`);
    fs.writeFileSync(script, 'set -e\necho "ran as $(id -u) on $(hostname)"\ncat /etc/hostname > /etc/sborka/seen-hostname\n');
    const lock = await run(resolveStep(['less', 'openssh-server'], { kernel: 'cloud' }));
    expect(readLock(lock).kernel).toMatchObject({ flavour: 'cloud', package: 'linux-image-cloud-amd64' });
    const root = await run(prepareStep(), { resolve: lock.key });
    expect(root.outputs.values.unpacked).toBe(false);
    const hash = '$6$sborka$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghijklmn';
    const params = {
      settings: {
        hostname: 'roots-test', timezone: 'Europe/Moscow', locale: 'C.UTF-8', keyboard: 'us,ru', rootPasswordHash: '!',
        users: [{ name: 'alice', groups: ['users'], passwordHash: hash, uid: 1500 }],
        enableServices: ['sborka-demo.service'],
      },
      // Recipe files are relative to the step's recipe directory (here the overlay's parent).
      recipeDir: path.dirname(overlay),
      overlays: [{ src: path.basename(overlay), dest: '/' }],
      scripts: [
        { stage: 'post-install', interpreter: '/bin/sh', file: path.basename(script) },
        { stage: 'post-install', interpreter: '/bin/bash', inline: 'echo inline >> /etc/sborka/inline\n' },
      ],
    };
    const configured = await run(configureStep(params), { 'prepare-root': root.key });
    const release = readLock(lock).kernel!.release;
    expect(configured.outputs.values).toMatchObject({
      arch: 'x86_64', sourceDateEpoch: readLock(lock).sourceDateEpoch, kernel: `boot/vmlinuz-${release}`, initrd: `boot/initrd.img-${release}`,
    });
    const names = tarList(configured);
    expect(names).toEqual(expect.arrayContaining([`./boot/vmlinuz-${release}`, `./boot/initrd.img-${release}`, './home/alice/', './etc/sborka/motd']));
    expect(names).not.toContain('./usr/sbin/policy-rc.d');
    expect(names.some((n) => n.startsWith('./.sborka'))).toBe(false);
    expect(tarRead(configured, './etc/hostname')).toBe('roots-test\n');
    expect(tarRead(configured, './etc/hosts')).toContain('127.0.1.1\troots-test');
    expect(tarRead(configured, './etc/timezone')).toBe('Europe/Moscow\n');
    expect(tarRead(configured, './etc/default/keyboard')).toContain('XKBLAYOUT="us,ru"');
    expect(tarRead(configured, './etc/passwd')).toMatch(/^alice:x:1500:/m);
    expect(tarRead(configured, './etc/shadow')).toContain(`alice:${hash}:`);
    expect(tarRead(configured, './etc/shadow')).toMatch(/^root:!:/m);
    expect(tarRead(configured, './etc/group')).toMatch(/^users:x:100:.*alice/m);
    expect(tarRead(configured, './etc/sborka/motd')).toBe('built by sborka\n');
    expect(names).toContain('./etc/systemd/system/multi-user.target.wants/sborka-demo.service');
    expect(tarRead(configured, './etc/sborka/seen-hostname')).toBe('roots-test\n');
    expect(tarRead(configured, './etc/sborka/inline')).toBe('inline\n');
    expect(fs.readFileSync(configured.logPath, 'utf8')).toContain('ran as 0 on sborka');
    // Every entry's mtime is clamped to the lock's SOURCE_DATE_EPOCH.
    const newest = execFileSync('tar', ['--list', '--verbose', '--full-time', '--file', path.join(configured.outputDir, 'rootfs.tar')], { maxBuffer: 256 << 20 })
      .toString().split('\n').filter(Boolean).map((l) => Date.parse(`${l.split(/\s+/).slice(3, 5).join('T')}Z`) / 1000).reduce((a, b) => Math.max(a, b), 0);
    expect(newest).toBeLessThanOrEqual(readLock(lock).sourceDateEpoch);

    // openssh-server's postinst made random host keys: gone from both roots; each machine makes its own at first boot.
    for (const r of [root, configured]) expect(tarList(r).filter((n) => n.startsWith('./etc/ssh/ssh_host_'))).toEqual([]);
    expect(names).toContain('./usr/sbin/sshd');
    expect(tarRead(configured, `./etc/systemd/system/${SSH_KEYGEN_UNIT}`)).toContain('ExecStart=/usr/bin/ssh-keygen -A');
    expect(names).toContain(`./etc/systemd/system/multi-user.target.wants/${SSH_KEYGEN_UNIT}`);
    expect(fs.readFileSync(configured.logPath, 'utf8')).toContain(`${SSH_KEYGEN_UNIT} makes each machine's own SSH host keys at its first boot`);

    // An edited overlay file changes configure's key (host inputs), an unchanged one does not.
    const before = await configureHostInputs(configureStep(params).params as never, config);
    expect(await configureHostInputs(configureStep(params).params as never, config)).toBe(before);
    fs.writeFileSync(path.join(overlay, 'etc/sborka/motd'), 'edited\n');
    expect(await configureHostInputs(configureStep(params).params as never, config)).not.toBe(before);

    // A failing script: non-retryable, its own output in the message, the log kept.
    const failing = {
      settings: {},
      scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: 'echo "sborka-script-says: cannot go on" >&2\nexit 3\n' }],
    };
    const f = await failureOf(run(configureStep(failing), { 'prepare-root': root.key }));
    expect(f.type).toBe('BadInput');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('post-install script inline script #1 (/bin/sh) failed');
    expect(f.message).toContain('sborka-script-says: cannot go on');
    const logs = execFileSync('grep', ['-rl', 'sborka-script-says', config.logDir]).toString().trim();
    expect(logs).not.toBe('');
    removeDir(overlay);
    fs.rmSync(script, { force: true });
  });

  test('the reproducible test makes the root again from its lock as another host would (no apt lists, a private state directory, the debs from the cache): the prepared root is bit-identical; a script that writes random bytes fails it as PolicyViolation, diffoscope naming the file', async () => {
    const configured = await run(configureStep({ scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: 'head -c 16 /dev/urandom | od -An -tx1 > /etc/machine-secret\n' }] }), { 'prepare-root': lessRoot.key });
    expect(configured.outputs.values.record).toEqual({ inputs: { 'prepare-root': lessRoot.key }, params: expect.objectContaining({ scripts: [expect.objectContaining({ inline: expect.stringContaining('urandom') })] }) });
    const tar = await run({ id: 'build-tar', kind: 'build', needs: ['configure'], params: { ...target(), output: { format: 'tar' }, fileName: 'root.tar' } }, { configure: configured.key });
    // Without resolve's apt lists (another host's worker), so mmdebstrap updates its own; the
    // debs come from the cache the first build downloaded them into.
    const sharedCache = process.env.SBORKA_DEBIAN_CACHE_DIR;
    process.env.SBORKA_DEBIAN_CACHE_DIR = path.join(stateDir, 'cold-debs');
    const aptState = aptStateDir(config, 'amd64', readLock(lessLock).sources);
    fs.renameSync(aptState, `${aptState}.aside`);
    let f: ApplicationFailure;
    try {
      f = await failureOf(run({ id: 'test-reproducible', kind: 'test', needs: ['build-tar'], params: { ...target(), test: { type: 'reproducible' } } }, { 'build-tar': tar.key }));
    } finally {
      process.env.SBORKA_DEBIAN_CACHE_DIR = sharedCache;
      fs.renameSync(`${aptState}.aside`, aptState);
    }
    expect(f.type).toBe('PolicyViolation');
    expect(f.nonRetryable).toBe(true);
    // The prepared root, made again with a fresh base layer, is the same; the configured one and its image are not.
    const result = (f.details as [{ artifacts: { step: string; file: string; identical: boolean; sha256: string; rebuiltSha256: string }[] }])[0];
    expect(result.artifacts.map((a) => [a.step, a.file, a.identical])).toEqual([['prepare-root', 'rootfs.tar', true], ['configure', 'rootfs.tar', false], ['build-tar', 'root.tar', false]]);
    expect(result.artifacts[0]!.rebuiltSha256).toBe(rootfsDigest(lessRoot));
    const report = /configure\/rootfs\.tar: [0-9a-f]{64} then [0-9a-f]{64} \(diffoscope report: (\S+\.diffoscope-configure\.txt)\)/.exec(f.message)?.[1];
    expect(fs.readFileSync(report!, 'utf8')).toContain('./etc/machine-secret');
    // The tar written from that root differs for the same reason: named, not diffed a second time.
    expect(f.message).toContain('build-tar/root.tar: ');
    expect(f.message).toContain('(made from "configure", which differs already)');
    expect(fs.existsSync(report!.replace(/\.diffoscope-configure\.txt$/, '.diffoscope-build-tar.txt'))).toBe(false);
    const log = fs.readFileSync(report!.replace(/\.diffoscope-configure\.txt$/, '.log'), 'utf8');
    expect(log).toContain(`making "prepare-root" again from "resolve" (store key ${lessLock.key}) in a fresh directory`);
    expect(log).toMatch(/base layer \(\d+ packages\): building afresh/);
    expect(log).toContain('mmdebstrap updates its own');
    expect(log).toMatch(/base layer: \d+ packages, [1-9]\d* from the cache/);
  });
});

describe('foreign arch (aarch64)', () => {
  test('resolve and prepare-root unpack an arm64 root without running it', async () => {
    const lock = await run(resolveStep(['less'], { kernel: 'cloud' }, 'aarch64'));
    const l = readLock(lock);
    expect(l).toMatchObject({ debArch: 'arm64', kernel: { package: 'linux-image-cloud-arm64' } });
    expect(l.packages.find((p) => p.name === 'libc6')?.arch).toBe('arm64');
    const root = await run(prepareStep('aarch64'), { resolve: lock.key });
    expect(root.outputs.values).toMatchObject({ arch: 'aarch64', debArch: 'arm64', unpacked: true });
    const names = tarList(root);
    expect(names).toContain('./usr/bin/less');
    expect(names.filter((n) => /^\.\/var\/cache\/apt\/archives\/.*\.deb$/.test(n))).toHaveLength(l.packages.length);
    // An ELF for EM_AARCH64 (183): unpacked, never executed here.
    const less = execFileSync('tar', ['--extract', '--to-stdout', '--file', path.join(root.outputDir, 'rootfs.tar'), './usr/bin/less'], { maxBuffer: 16 << 20 });
    expect(less.readUInt16LE(18)).toBe(183);
  });
});

describe('editing a root from the host', () => {
  test('symlinks resolve inside the root: an overlay never writes through one to the host', async () => {
    const root = makeTmpDir('sborka-fakeroot-');
    const overlay = makeTmpDir('sborka-overlay-');
    const outside = makeTmpDir('sborka-outside-');
    try {
      fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
      fs.mkdirSync(path.join(root, 'etc'));
      fs.symlinkSync('usr/bin', path.join(root, 'bin'));
      fs.symlinkSync(outside, path.join(root, 'etc/escape')); // absolute: means <root><outside>
      fs.symlinkSync(path.join(outside, 'file'), path.join(root, 'etc/leaf'));
      expect(await resolveInRoot(root, '/bin/tool')).toBe(path.join(root, 'usr/bin/tool'));
      expect(await resolveInRoot(root, '/etc/escape/x')).toBe(path.join(root, outside, 'x'));
      expect(await resolveInRoot(root, '/../../etc/leaf', false)).toBe(path.join(root, 'etc/leaf'));
      fs.mkdirSync(path.join(overlay, 'etc/escape'), { recursive: true });
      fs.writeFileSync(path.join(overlay, 'etc/escape/x'), 'x');
      fs.writeFileSync(path.join(overlay, 'etc/leaf'), 'leaf');
      fs.mkdirSync(path.join(overlay, 'bin'));
      fs.writeFileSync(path.join(overlay, 'bin/tool'), '#!/bin/sh\n', { mode: 0o755 });
      expect(await copyIntoRoot(root, overlay, '/')).toBe(3);
      expect(fs.readdirSync(outside)).toEqual([]);
      expect(fs.readFileSync(path.join(root, outside, 'x'), 'utf8')).toBe('x');
      expect(fs.lstatSync(path.join(root, 'etc/leaf')).isFile()).toBe(true);
      expect(fs.statSync(path.join(root, 'usr/bin/tool')).mode & 0o777).toBe(0o755);
    } finally {
      for (const d of [root, overlay, outside]) removeDir(d);
    }
  });
});
