// The VM runner's pure parts: Debian version order, index parsing, module dependencies,
// the initramfs bytes, qemu's argv, vm-run's option parsing and the boot console's matching.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { compareDebianVersions, parsePackages } from '../../activities/vm/debian-mirror';
import { withoutKernelMessages } from '../../activities/vm/boot-console';
import { buildInitramfs, INIT_SCRIPT, modinfo } from '../../activities/vm/initramfs';
import { prepareVmKernel } from '../../activities/vm/kernels';
import { parseVmRunArgs } from '../../cli/commands/vm-run';
import { qemuArgv, type VmSpec } from '../../activities/vm/qemu';
import { ARCHES, stateDir } from './fixtures';

jest.setTimeout(600_000);

test.each([
  ['1.0', '1.0', 0],
  ['1.0', '1.1', -1],
  ['1.10', '1.9', 1],
  ['1.0~rc1', '1.0', -1],
  ['1:0.1', '9.9', 1],
  ['6.1.176-1', '6.1.170-1', 1],
  ['6.1.176-1', '6.1.176-1+b1', -1],
  ['1.0a', '1.0+', -1],
  ['1.0-1', '1.0-1~bpo1', 1],
])('compareDebianVersions(%s, %s) = %d', (a, b, want) => {
  expect(Math.sign(compareDebianVersions(a, b))).toBe(want);
});

test('parsePackages keeps the newest stanza per name and this architecture only', () => {
  const sha = (c: string) => c.repeat(64);
  const text = [
    `Package: linux-image-amd64\nVersion: 6.1.170-1\nArchitecture: amd64\nDepends: linux-image-6.1.0-49-amd64 (= 6.1.170-1)\nFilename: pool/a.deb\nSize: 10\nSHA256: ${sha('a')}\nDescription: x\n continued`,
    `Package: linux-image-amd64\nVersion: 6.1.176-1\nArchitecture: amd64\nDepends: linux-image-6.1.0-50-amd64 (= 6.1.176-1)\nFilename: pool/b.deb\nSize: 11\nSHA256: ${sha('b')}`,
    `Package: other\nVersion: 1\nArchitecture: arm64\nFilename: pool/c.deb\nSize: 1\nSHA256: ${sha('c')}`,
  ].join('\n\n');
  const m = parsePackages(text, 'amd64');
  expect([...m.keys()]).toEqual(['linux-image-amd64']);
  expect(m.get('linux-image-amd64')).toMatchObject({ version: '6.1.176-1', filename: 'pool/b.deb', size: 11, sha256: sha('b') });
});

test('every architecture gets a kernel, an initramfs and the 9p and ext4 modules with their dependencies', async () => {
  for (const arch of ARCHES) {
    const k = await prepareVmKernel(arch, { stateDir });
    expect(fs.statSync(k.kernelPath).size).toBeGreaterThan(1 << 20);
    // 9p itself is always a module in Debian's kernels; netfs is one of its dependencies.
    expect(k.modules).toEqual(expect.arrayContaining(['9p', '9pnet', '9pnet_virtio', 'netfs']));
    expect(k.modules.indexOf('9pnet')).toBeLessThan(k.modules.indexOf('9pnet_virtio'));
    expect(k.modules.indexOf('netfs')).toBeLessThan(k.modules.indexOf('9p'));
    // ext4 for foreign build roots (a disk, not 9p), after what it needs at mount time.
    expect(k.modules).toEqual(expect.arrayContaining(['ext4', 'jbd2', 'mbcache', 'crc32c_generic']));
    expect(k.modules.indexOf('jbd2')).toBeLessThan(k.modules.indexOf('ext4'));
    const cpio = gunzipSync(fs.readFileSync(k.initrdPath)).toString('latin1');
    expect(cpio).toContain(INIT_SCRIPT);
    expect(cpio).toContain('lib/modules/9p.ko');
  }
});

test('modinfo reads a module\'s dependencies from its ELF .modinfo section', async () => {
  const k = await prepareVmKernel('x86_64', { stateDir });
  const cpio = gunzipSync(fs.readFileSync(k.initrdPath));
  // The 9p module inside our initramfs: find its ELF header after its cpio name.
  const at = cpio.indexOf('lib/modules/9p.ko\0');
  const elf = cpio.indexOf(Buffer.from([0x7f, 0x45, 0x4c, 0x46]), at);
  expect(modinfo(cpio.subarray(elf), 'depends')[0]?.split(',').sort()).toEqual(expect.arrayContaining(['9pnet', 'netfs']));
});

test('the initramfs is byte-for-byte reproducible', () => {
  const inputs = { busybox: Buffer.from('not really busybox'), modules: [{ name: 'm', data: Buffer.from('ko') }] };
  expect(buildInitramfs(inputs).equals(buildInitramfs(inputs))).toBe(true);
});

test('a kernel message that splits "login:" on the serial console does not hide it', () => {
  // The messages of a module that loads late in a TCG boot (seen near the prompt on our consoles), inside getty's prompt.
  const console = 'Debian GNU/Linux 12 debian ttyS0\r\n\r\ndebian lo[   30.038745] kvm: Nested Virtualization enabled\r\n[   30.189307] powernow_k8: Power state transitions not supported\r\ngin: ';
  expect(console.includes('login:')).toBe(false);
  expect(withoutKernelMessages(console)).toBe('Debian GNU/Linux 12 debian ttyS0\r\n\r\ndebian login: ');
  // Text a program printed in brackets of another shape stays.
  expect(withoutKernelMessages('[  OK  ] Reached target getty.target\r\n')).toBe('[  OK  ] Reached target getty.target\r\n');
});

describe('qemuArgv', () => {
  const spec = (over: Partial<VmSpec>): VmSpec => ({
    arch: 'x86_64',
    accel: 'tcg',
    kernel: { kernelPath: '/k/kernel', initrdPath: '/k/initrd.img' },
    memMiB: 512,
    cpus: 2,
    append: 'foo=bar',
    verbose: false,
    root: { path: '/srv/root,with,commas', readOnly: true, securityModel: 'passthrough' },
    mounts: [{ hostPath: '/data', guestPath: '/mnt', readOnly: false }],
    drives: [{ path: '/img/disk.qcow2', format: 'qcow2', readOnly: true }],
    command: ['true'],
    env: {},
    ...over,
  });

  test('x86_64 uses q35 and escapes commas in host paths', () => {
    const argv = qemuArgv(spec({}), '/tmp/ctl');
    expect(argv[0]).toBe('qemu-system-x86_64');
    expect(argv).toEqual(expect.arrayContaining(['-M', 'q35', '-accel', 'tcg', '-m', '512', '-smp', '2', '-no-reboot', '-nodefaults']));
    expect(argv).toContain('local,id=root,path=/srv/root,,with,,commas,security_model=passthrough,multidevs=remap,readonly=on');
    expect(argv).toContain('virtio-9p-pci,fsdev=m0,mount_tag=sborkam000');
    expect(argv).toContain('if=none,id=d0,file=/img/disk.qcow2,format=qcow2,readonly=on');
    expect(argv[argv.indexOf('-append') + 1]).toBe('console=ttyS0 panic=-1 quiet foo=bar');
  });

  test('aarch64 and riscv64 machines', () => {
    const a = qemuArgv(spec({ arch: 'aarch64' }), '/tmp/ctl');
    expect(a[0]).toBe('qemu-system-aarch64');
    expect(a).toEqual(expect.arrayContaining(['-M', 'virt', '-cpu', 'max,pauth-impdef=on']));
    expect(a[a.indexOf('-append') + 1]).toMatch(/^console=ttyAMA0 /);
    const r = qemuArgv(spec({ arch: 'riscv64', accel: 'kvm' }), '/tmp/ctl');
    expect(r[0]).toBe('qemu-system-riscv64');
    expect(r).toEqual(expect.arrayContaining(['-M', 'virt', '-bios', '-accel', 'kvm']));
    expect(path.basename(r[r.indexOf('-bios') + 1]!)).toMatch(/fw_dynamic\.bin|default/);
  });
});

describe('parseVmRunArgs (vm-run options)', () => {
  test('options end at the first word of the command', () => {
    const o = parseVmRunArgs(
      ['--kvm=cond', '--mem=2G', '--cpu=2', '--append=a=1', '--append', 'b=2', '--arch=riscv64', '--root', 'r', '--mount=/h:/g:ro', '--env=X=1=2', 'sh', '--mem=1', '-c', 'x'],
      '/cwd',
    );
    expect(o).toMatchObject({
      kvm: 'cond',
      memMiB: 2048,
      cpus: 2,
      append: 'a=1 b=2',
      arch: 'riscv64',
      root: '/cwd/r',
      mounts: [{ hostPath: '/h', guestPath: '/g', readOnly: true }],
      env: { X: '1=2' },
      command: ['sh', '--mem=1', '-c', 'x'],
    });
  });

  test('--tcg, -- and sizes', () => {
    expect(parseVmRunArgs(['--tcg', '--root=/r', '--mem=768', '--', '--weird'], '/')).toMatchObject({ kvm: 'tcg', memMiB: 768, command: ['--weird'] });
    expect(parseVmRunArgs(['--root=/r', '--mem=1048576K', 'true'], '/')).toMatchObject({ memMiB: 1024 });
  });

  test.each([
    [['--root=/r']],
    [['true']],
    [['--kvm=always', '--root=/r', 'true']],
    [['--mem=lots', '--root=/r', 'true']],
    [['--cpu=0', '--root=/r', 'true']],
    [['--frobnicate', '--root=/r', 'true']],
  ])('usage error: %j', (argv) => {
    expect(() => parseVmRunArgs(argv, '/')).toThrow();
  });
});
