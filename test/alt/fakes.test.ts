// The fakes refuse what the real tools refuse, with the real tools' messages (each fake's
// comments cite the upstream file and line it follows). Each test names the sources.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fakeHost, type FakeHost } from './helpers';

let fake: FakeHost;
let home: string;
let apt: string;
beforeEach(() => {
  fake = fakeHost();
  home = fake.host.home!;
  apt = path.join(home, 'apt.conf');
  fs.writeFileSync(apt, 'Dir::Etc::main "/dev/null";\n');
});
afterEach(() => fs.rmSync(fake.root, { recursive: true, force: true }));

const tool = (name: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(path.join(fake.bin, name), args, { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: home, ...env } });
const usage = (prog: string, msg: string) => `${prog}: ${msg}\nTry \`${prog} --help' for more information.\n`;
/** A hasher workdir with a root made by the fake hsh, under the build user's home. */
function root(name = 'wd', number = '1'): string {
  const wd = path.join(home, name);
  fs.mkdirSync(wd, { recursive: true });
  const r = tool('hsh', ['--initroot-only', `--number=${number}`, `--apt-config=${apt}`, '--', wd]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return wd;
}

describe('fake hsh (from hasher 1.7.4 sources)', () => {
  it('checks every value as hsh does (hasher/hsh, libshell shell-args)', () => {
    const wd = path.join(home, 'wd');
    fs.mkdirSync(wd);
    const file = path.join(home, 'prog.sh');
    fs.writeFileSync(file, '#!/bin/sh\n');
    const cases: Array<[string[], string]> = [
      [['--nprocs=0'], 'hsh: --nprocs: 0: invalid number.\n'],
      [['--nprocs=08'], 'hsh: --nprocs: 08: invalid number.\n'],
      [['--number=x1'], 'hsh: --number: x1: invalid number.\n'],
      [['--number=/nonexistent'], 'hsh: --number: /nonexistent: Directory not available.\n'],
      [['--apt-config=/nonexistent'], 'hsh: --apt-config: /nonexistent: file not available.\n'],
      [['--apt-prefix=/nonexistent'], 'hsh: --apt-prefix: /nonexistent: directory not available.\n'],
      [[`--apt-prefix=${file}`], `hsh: --apt-prefix: ${file}: directory not available.\n`],
      [[`--hasher-priv-dir=${file}`], `hsh: --hasher-priv-dir: ${file}: directory not available.\n`],
      [['--query-req-prog=/nonexistent'], 'hsh: --query-req-prog: /nonexistent: file not available.\n'],
      [['--rebuild-prog=/nonexistent'], 'hsh: --rebuild-prog: /nonexistent: file not available.\n'],
      [['--predb-prog=/nonexistent'], 'hsh: --predb-prog: /nonexistent: file not available.\n'],
      [['--target=64bit'], 'hsh: --target: 64bit: invalid architecture.\n'],
      [[`--query-req-prog=${file}`, '--no-query-repackage'], usage('hsh', '--query-req-prog and --no-query-repackage are mutually exclusive options.')],
      [[`--query-req-prog=${file}`, '--query-repackage'], usage('hsh', '--query-req-prog and --query-repackage are mutually exclusive options.')],
      [['--initroot-only', '--cleanup-only'], usage('hsh', '--initroot-only, --cleanup-only and --printenv are mutually exclusive options.')],
    ];
    for (const [opts, stderr] of cases) {
      const r = tool('hsh', [...opts, '--initroot-only', wd].filter((a, i, all) => !(a === '--initroot-only' && all.indexOf(a) !== i)));
      expect([opts, r.status, r.stderr]).toEqual([opts, 1, stderr]);
    }
    expect(tool('hsh', ['--initroot-only', wd, 'extra']).stderr).toBe(usage('hsh', 'Too many arguments.'));
    expect(tool('hsh', [wd]).stderr).toBe(usage('hsh', 'Insufficient arguments.'));
    // Relative to where hsh was started (hasher/hsh:284).
    expect(tool('hsh', [wd, 'nope.src.rpm']).stderr).toBe(`hsh: ${process.cwd()}/nope.src.rpm: file not found.\n`);
    fs.writeFileSync(path.join(home, 'empty.src.rpm'), '');
    expect(tool('hsh', [wd, path.join(home, 'empty.src.rpm')]).stderr).toBe(`hsh: ${home}/empty.src.rpm: empty source file.\n`);
    const odd = path.join(home, 'a$b');
    fs.mkdirSync(odd);
    expect(tool('hsh', ['--initroot-only', odd]).stderr).toBe(`hsh: ${odd}: illegal symbols in pathname.\n`);
  });

  it('through hasher-priv 2.0.14: a workdir outside the prefix, root as the caller, a broken config', () => {
    const outside = fs.mkdtempSync(path.join(fake.root, 'store-tmp-'));
    const r = tool('hsh', ['--initroot-only', '--number=1', `--apt-config=${apt}`, outside]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`hasher-priv: ${outside}/chroot: prefix mismatch, working directory should start with one of directories listed in colon-separated prefix list (~:/tmp/.private)\n`);

    fake.set('caller', 'root');
    const wd = path.join(home, 'wd');
    fs.mkdirSync(wd);
    const asRoot = tool('hsh', ['--initroot-only', '--number=1', `--apt-config=${apt}`, wd]);
    expect(asRoot.stderr).toBe('hasher-priv: failed to receive header in response to session request\nhsh: hasher-priv getconf failed.\n');
    expect(fs.readFileSync(path.join(fake.state, 'hasher-privd.log'), 'utf8')).toBe('invalid uid: 0\n');
    fake.set('caller', 'builder');

    const system = fs.readFileSync(path.join(fake.state, 'etc-hasher-priv', 'system'), 'utf8');
    const run = () => tool('hsh', ['--initroot-only', '--number=1', `--apt-config=${apt}`, wd]).stderr.split('\n')[0];
    fake.privFile('system', `${system}allowed_device=/dev/kvm\n`);
    expect(run()).toBe('hasher-priv: system: unrecognized option: allowed_device');
    fake.privFile('system', `${system}allowed_devices\n`);
    expect(run()).toBe(`hasher-priv: system: syntax error at line ${system.split('\n').length}`);
    fake.privFile('system', 'prefix=relative/dir\n');
    expect(run()).toBe('hasher-priv: system: invalid value "relative/dir" for "prefix" option');
    fake.privFile('system', system);
    fs.rmSync(path.join(fake.state, 'etc-hasher-priv', 'user.d', 'builder:1'));
    expect(run()).toBe('hasher-priv: open: builder:1: No such file or directory');
    fake.privFile('user.d/builder:1', 'user1=nobody_here\nuser2=builder_b1\n');
    expect(run()).toBe('hasher-priv: user1: nobody_here lookup failure');
    fake.privFile('user.d/builder:1', 'user1=builder\nuser2=builder_b1\n');
    expect(run()).toBe('hasher-priv: user1: builder: name coincides with caller');
    fake.privFile('user.d/builder:1', 'user1=builder_b1\nuser2=builder_b1\n');
    expect(run()).toBe('hasher-priv: user1 coincides with user2');
  });
});

describe('fake hsh-run (from hasher 1.7.4 sources)', () => {
  it('refuses an --execute file that is not readable, and --execute with --shell (hasher/hsh-run:101-104, :162-164)', () => {
    const wd = root();
    expect(tool('hsh-run', ['--execute=/nonexistent', wd]).stderr).toBe('hsh-run: --execute: /nonexistent: file not available.\n');
    fs.writeFileSync(path.join(home, 's.sh'), '#!/bin/sh\ntrue\n');
    expect(tool('hsh-run', [`--execute=${path.join(home, 's.sh')}`, '--shell', wd]).stderr).toBe(usage('hsh-run', '--execute and --shell are mutually exclusive options.'));
    expect(tool('hsh-run', ['--number=-1', wd, 'true']).stderr).toBe('hsh-run: --number: -1: invalid number.\n');
    expect(tool('hsh-run', ['--hasher-priv-dir=/nonexistent', wd, 'true']).stderr).toBe('hsh-run: --hasher-priv-dir: /nonexistent: directory not available.\n');
    fs.rmSync(path.join(wd, 'chroot'), { recursive: true });
    expect(tool('hsh-run', [wd, '--', 'true']).stderr).toBe(`hsh-run: ${wd}/chroot: cannot find chroot.\n`);
  });

  it('runs programs only inside the chroot: what the root lacks is not found, the host\'s / is never used', () => {
    const wd = root();
    expect(tool('hsh-run', ['--number=1', wd, '--', 'true']).status).toBe(0);
    const r = tool('hsh-run', ['--number=1', wd, '--', 'ls', '/']);
    expect([r.status, r.stderr]).toEqual([127, '/.host/entry: line 9: exec: ls: not found\n']);
    const abs = tool('hsh-run', ['--number=1', '--rooter', wd, '--', '/usr/bin/id']);
    expect([abs.status, abs.stderr]).toEqual([127, '/.host/entry: line 14: /usr/bin/id: No such file or directory\n']);
    // A script the chroot's shell runs sees only the chroot's programs.
    const script = path.join(home, 'probe.sh');
    fs.writeFileSync(script, '#!/bin/sh\nrpm -q rpm && uname -a\n');
    const s = tool('hsh-run', ['--number=1', `--execute=${script}`, wd]);
    expect(s.stdout).toBe('rpm-1.0-alt1\n');
    expect(s.stderr).toContain('uname: command not found');
    expect(s.status).toBe(127);
  });

  it('asks hasher-priv for mount points, refused as hasher-priv/mount.c:240-289 refuses them', () => {
    const wd = root();
    const mount = (list: string) => tool('hsh-run', ['--number=1', `--mountpoints=${list}`, wd, '--', 'true']).stderr;
    expect(mount('/proc,/dev/pts,/dev/kvm,/dev/shm')).toBe('');
    expect(mount('/srv')).toBe('hasher-priv: /srv: mount point is not allowed\n');
    expect(mount('proc')).toBe('hasher-priv: proc: mount point is not supported\n');
    fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts,/dev/kvm\n');
    expect(mount('/dev/kvm')).toBe('hasher-priv: /dev/kvm: mount point is not supported\n');
    fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/kvm\nallowed_devices=/dev/kvm\n');
    expect(mount('/dev/kvm')).toBe('hasher-priv: /dev/kvm: configured as device and mount point simultaneously\n');
    fake.privFile('system', 'prefix=~:/tmp/.private\nallowed_devices=/proc\n');
    expect(mount('/proc')).toBe('hasher-priv: /proc: device name is not supported\n');
  });
});

describe('fake vm-run (from vm-run 1.64 sources)', () => {
  it('runs its command in the hasher chroot it is called from, and nowhere else', () => {
    const wd = root();
    expect(tool('hsh-install', ['--number=1', wd, 'rpm-build-vm-run']).status).toBe(0);
    const r = tool('hsh-run', ['--number=1', '--mountpoints=/dev/kvm', wd, '--', 'vm-run', '--kvm=try', '--', 'rpm -q rpm-build-vm-run']);
    expect([r.status, r.stdout]).toEqual([0, 'rpm-build-vm-run-1.0-alt1\n']);
    expect(tool('vm-run', ['--', 'true']).stderr).toContain('the fake vm-run runs only in a fake hasher chroot');
  });
});

describe('fake make (from mkimage-profiles fc28b26 sources)', () => {
  function tree(): string {
    const p = path.join(home, 'profiles');
    fs.cpSync(fake.profiles, p, { recursive: true });
    return p;
  }
  const make = (p: string, goal: string, vars: string[] = []) => {
    const buildDir = path.join(home, 'hasher', 'mkimage');
    return { buildDir, r: tool('make', ['-C', p, `BUILDDIR=${buildDir}`, `IMAGEDIR=${path.join(home, 'out')}`, `HOME=${home}`, 'ARCH=x86_64', 'BRANCH=p11', 'DATE=20260102', ...vars, goal]) };
  };

  it('builds only <target><ext> goals conf.d defines, for the arch, with the class\'s types (main.mk:55-73)', () => {
    const p = tree();
    for (const goal of ['distro/regular-xfce.qcow2', 'vm/alt-mobile.img', 'vm/regular-server-systemd.qcow2', 've/base.tar.zst', 'vm/alt-mobile-phosh-pine.img']) {
      const { r } = make(p, goal);
      expect([goal, r.status, r.stderr.split('\n').slice(-3)]).toEqual([goal, 2, [`make[1]: *** No rule to make target '${goal}'.  Stop.`, `make: *** [Makefile:61: ${goal}] Error 1`, '']]);
    }
    expect(tool('make', ['-C', p, `BUILDDIR=${path.join(home, 'hasher', 'mk')}`, 'ARCH=aarch64', 'vm/alt-mobile-phosh-pine.img']).status).toBe(0);
    // A prerequisite without a rule stops make (main.mk:44-46 includes conf.d and features.in).
    fs.writeFileSync(path.join(p, 'conf.d', 'zz-sborka.mk'), 'vm/server-sborka: vm/regular-server-systemd use/l10n; @:\n');
    const { r } = make(p, 'vm/server-sborka.qcow2');
    expect(r.stderr).toContain("make[1]: *** No rule to make target 'vm/regular-server-systemd', needed by 'vm/server-sborka'.  Stop.\n");
  });

  it('QUIET drops the `** image: ` prefix and SHORTEN makes the path ~/out/... (lib/build.mk:95-104, lib/common.mk:10-23)', () => {
    const p = tree();
    const quiet = make(p, 'distro/regular-xfce.iso', ['QUIET=1', 'REPORT=1', 'DEBUG=1', 'NO_SYMLINK=1']);
    expect(quiet.r.status).toBe(0);
    expect(quiet.r.stderr).not.toContain('** image:');
    expect(quiet.r.stderr.trimEnd().split('\n').pop()).toMatch(/^\d\d:\d\d:\d\d \(0:01\) ~\/out\/alt-p11-xfce-20260102-x86_64\.iso \[\d+\]$/);
    // The build log keeps the full path, whatever QUIET.
    expect(fs.readFileSync(path.join(quiet.buildDir, 'build.log'), 'utf8')).toContain(`** image: ${home}/out/alt-p11-xfce-20260102-x86_64.iso [`);
    expect(fs.readdirSync(path.join(home, 'out')).sort()).toEqual(['alt-p11-xfce-20260102-x86_64.iso', 'alt-p11-xfce-20260102-x86_64.iso.reports']);
    // Without QUIET the prefix is there; without NO_SYMLINK the -latest links are made.
    const loud = make(p, 'vm/regular-xfce.qcow2');
    expect(loud.r.stderr).toMatch(/\n\*\* image: ~\/out\/alt-p11-xfce-20260102-x86_64\.qcow2 \[\d+\]\n/);
    expect(fs.readlinkSync(path.join(home, 'out', 'alt-p11-xfce-latest-x86_64.qcow2'))).toBe('alt-p11-xfce-20260102-x86_64.qcow2');
    expect(fs.readlinkSync(path.join(home, 'out', 'mkimage-profiles.qcow2'))).toBe('alt-p11-xfce-latest-x86_64.qcow2');
    // CLEAN without REPORT removes BUILDDIR after the build (lib/clean.mk:55-73).
    expect(fs.existsSync(loud.buildDir)).toBe(false);
  });

  it('makes its hasher roots under BUILDDIR through hasher-priv: a BUILDDIR outside the prefix fails the build', () => {
    const p = tree();
    const outside = fs.mkdtempSync(path.join(fake.root, 'store-'));
    const r = tool('make', ['-C', p, `BUILDDIR=${path.join(outside, 'mkimage')}`, `IMAGEDIR=${path.join(outside, 'out')}`, 'QUIET=1', 'DEBUG=1', 'distro/regular-xfce.iso']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\d\d:\d\d:\d\d failed, see log: build\/build\.log\n/);
    expect(fs.readFileSync(path.join(outside, 'mkimage', 'build.log'), 'utf8')).toContain(`hasher-priv: ${outside}/mkimage/.work/chroot: prefix mismatch`);
  });
});
