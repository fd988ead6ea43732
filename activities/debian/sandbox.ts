// Running a program inside a build root. On the host's own arch, for the distribution's
// own code: bubblewrap (root-bwrap.ts) in a user namespace whose root has no capabilities.
// A foreign root's own code goes through qemu-user where the host allows it (qemu-user.ts).
// Partner-supplied code (isolation "vm") must not touch the host kernel, and a foreign root
// on a host without qemu-user has no other way: both go to a qemu VM that sees the root (as
// a disk) and nothing else, and runInRootVm is the one place that knows how.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CancelledFailure } from '@temporalio/common';
import { badInput, stepFailed } from '../failures';
import type { KindContext } from '../kinds/registry';
import { fetchArchPackage, type VmArch } from '../vm/kernels';
import { runInVm } from '../vm/run-in-vm';
import { hostDebArch } from './mmdebstrap';
import { qemuUserUsable, runInRootQemuUser } from './qemu-user';
import { bwrapInRoot, type InRootRun } from './root-bwrap';
import { runTool, type ToolRun } from './run-tool';

const execFileAsync = promisify(execFile);



export type Isolation = 'host-sandbox' | 'vm';

/** Runs argv inside the root; returns its output and whether it succeeded (cancellation throws). */
export async function runInRoot(ctx: KindContext, root: string, debArch: string, run: InRootRun, isolation: Isolation = 'host-sandbox'): Promise<ToolRun> {
  if (isolation === 'vm') return runInRootVm(ctx, root, debArch, run);
  // The distribution's own code of a foreign root: qemu-user where the host allows it (qemu-user.ts).
  if (debArch !== hostDebArch()) return (await foreignByQemuUser(ctx, debArch)) ? runInRootQemuUser(ctx, root, debArch, run) : runInRootVm(ctx, root, debArch, run);
  // The root's uid 0 is the real uid 0 (files keep real owners) but holds no capability:
  // it cannot mount, load modules, chown to others or override permissions on the host.
  const privilege = ['--unshare-user', '--uid', '0', '--gid', '0', '--cap-drop', 'ALL'];
  return runTool(ctx, bwrapInRoot(root, privilege, run.argv, run.env), { phase: run.phase });
}

/** Whether a foreign root's own programs go through qemu-user (SBORKA_FOREIGN_RUNNER=vm keeps the VM). */
export async function foreignByQemuUser(ctx: KindContext, debArch: string): Promise<boolean> {
  return process.env.SBORKA_FOREIGN_RUNNER !== 'vm' && qemuUserUsable(debArch, ctx.workDir);
}

/**
 * A foreign root's programs, and a partner's on any arch, run inside a qemu VM of the root's
 * arch (the vm-run-compatible runner: KVM where it works, TCG otherwise).
 * The root travels as an ext4 disk, not over 9p: dpkg and update-initramfs touch tens of
 * thousands of files, and every 9p operation under TCG costs a round trip through the
 * emulator (minutes per package set), while ext4 works from the guest's page cache. The VM's
 * 9p root is a tiny helper (a static busybox of the arch) that mounts the disk and runs the
 * command chrooted in it. The root then comes back from the disk: through a read-only loop
 * mount on the host where it allows one (native speed), else as a tar the VM writes onto a
 * second disk (a minute of emulated tar per run, for hosts without loop devices).
 */
async function runInRootVm(ctx: KindContext, root: string, debArch: string, run: InRootRun): Promise<ToolRun> {
  const arch = VM_ARCH[debArch];
  if (!arch) throw badInput(`step "${ctx.step.id}": no VM runs ${debArch} roots`);
  // An unpacked root lacks the mount points the helper fills.
  for (const [dir, mode] of [['proc', 0o555], ['sys', 0o555], ['dev', 0o755], ['run', 0o755], ['tmp', 0o1777]] as const) {
    await fs.mkdir(path.join(root, dir), { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  const work = await fs.mkdtemp(path.join(ctx.workDir, 'vm-'));
  try {
    const copyBack: CopyBack = ctx.config.foreignRootCopy === 'auto' && (await hostMountsLoop(work)) ? 'loop' : 'vm-tar';
    const helper = await helperRoot(ctx, arch, work);
    const bytes = await treeBytes(root);
    // Sparse files: only what is written takes room. The root gets space for what it installs.
    const diskBytes = Math.ceil((bytes * 2 + 2 * GiB) / MiB) * MiB;
    const disk = path.join(work, 'root.ext4');
    const back = path.join(work, 'root-back.tar');
    for (const f of copyBack === 'vm-tar' ? [disk, back] : [disk]) {
      await fs.writeFile(f, '');
      await fs.truncate(f, diskBytes);
    }
    ctx.progress({ phase: `${run.phase}: root to disk` });
    // A scratch file system: no checksums to compute under emulation, inodes for many small files.
    const mk = await runTool(ctx, ['mkfs.ext4', '-q', '-F', '-b', '4096', '-i', '8192', '-O', '^metadata_csum,^metadata_csum_seed', '-d', root, disk], { phase: run.phase });
    if (!mk.ok) throw mk.failure;

    const lines: string[] = [];
    const result = await runInVm({
      arch, root: helper, command: ['/bin/busybox', 'sh', '/run.sh', copyBack, ...run.argv],
      env: { DEBIAN_FRONTEND: 'noninteractive', ...run.env },
      drives: [{ path: disk, format: 'raw' }, ...(copyBack === 'vm-tar' ? [{ path: back, format: 'raw' as const }] : [])],
      memMiB: 1536, cpus: 2, consoleLog: ctx.logPath, stateDir: ctx.config.stateDir, attempt: ctx.attempt,
      timeoutMs: 60 * 60_000, signal: ctx.signal, logger: ctx.logger,
      onConsoleLine: (line) => {
        if (lines.length >= 5000) lines.shift();
        lines.push(line);
        ctx.progress({ phase: run.phase, lastLine: line });
      },
    });
    if (result.status === 'cancelled') throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new CancelledFailure('cancelled');
    if (result.status !== 'exited') {
      // The VM itself failed (timeout, panic, qemu error): a retry may fare better.
      throw stepFailed(`step "${ctx.step.id}": ${run.phase} in a ${arch} VM: ${result.status}: ${result.reason}; console: ${result.consoleLog}`);
    }
    if (!(await fs.stat(path.join(helper, 'copied')).catch(() => undefined))) {
      throw stepFailed(`step "${ctx.step.id}": ${run.phase} in a ${arch} VM: the root could not be ${copyBack === 'loop' ? 'unmounted cleanly' : 'copied back'} (exit code ${result.exitCode}); see ${ctx.logPath}\n${lines.slice(-15).join('\n')}`);
    }
    ctx.progress({ phase: `${run.phase}: root from disk` });
    await fs.rm(root, { recursive: true, force: true });
    await fs.mkdir(root);
    if (copyBack === 'loop') await copyFromDisk(ctx, disk, root, path.join(work, 'mnt'), run.phase);
    else {
      const x = await runTool(ctx, ['tar', '--extract', `--file=${back}`, `--directory=${root}`,
        '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*'], { phase: run.phase });
      if (!x.ok) throw x.failure;
    }
    const code = Number((await fs.readFile(path.join(helper, 'rc'), 'utf8')).trim());
    return code === 0 ? { ok: true, lines } : { ok: false, lines, failure: stepFailed(`${run.argv[0]} exited with code ${code} in the ${arch} VM`) };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

type CopyBack = 'loop' | 'vm-tar';

/** The VM's disk, read through a read-only loop mount (owners, modes, hard links and xattrs kept by cp -a). */
async function copyFromDisk(ctx: KindContext, disk: string, root: string, mnt: string, phase: string): Promise<void> {
  await fs.mkdir(mnt);
  const m = await runTool(ctx, ['mount', '-t', 'ext4', '-o', 'loop,ro', disk, mnt], { phase });
  if (!m.ok) throw m.failure;
  try {
    const cp = await runTool(ctx, ['cp', '-a', '--', `${mnt}/.`, `${root}/`], { phase });
    if (!cp.ok) throw cp.failure;
  } finally {
    const u = await runTool(ctx, ['umount', mnt], { phase });
    if (!u.ok) ctx.logger.warn({ mnt, lines: u.lines.slice(-3) }, 'could not unmount the root disk');
  }
}

let loopProbe: Promise<boolean> | undefined;

/** Whether this host lets us loop-mount an ext4 image (root with loop devices); asked once per process. */
function hostMountsLoop(work: string): Promise<boolean> {
  loopProbe ??= (async () => {
    const dir = await fs.mkdtemp(path.join(work, 'loop-probe-'));
    const img = path.join(dir, 'probe.ext4');
    const mnt = path.join(dir, 'mnt');
    try {
      await fs.mkdir(mnt);
      await fs.writeFile(img, '');
      await fs.truncate(img, 8 * MiB);
      await execFileAsync('mkfs.ext4', ['-q', '-F', img]);
      await execFileAsync('mount', ['-t', 'ext4', '-o', 'loop,ro', img, mnt]);
      await execFileAsync('umount', [mnt]);
      return true;
    } catch {
      return false;
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  })();
  return loopProbe;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

// Runs as the VM's command in the helper root: the disk /dev/vda is the build root. $1 says
// how it goes back: "loop" (the host mounts the disk afterwards: unmount it cleanly) or
// "vm-tar" (write it as a tar onto /dev/vdb with the root's own GNU tar: xattrs kept).
const HELPER_SCRIPT = `set -u
bb=/bin/busybox
back=$1; shift
$bb mkdir -p /mnt
$bb mount -t ext4 /dev/vda /mnt || { echo "sborka: cannot mount the root disk"; exit 125; }
$bb mount -t proc proc /mnt/proc
$bb mount -t sysfs sysfs /mnt/sys
$bb mount -t devtmpfs devtmpfs /mnt/dev && $bb mkdir -p /mnt/dev/pts && $bb mount -t devpts devpts /mnt/dev/pts
$bb mount -t tmpfs -o mode=0755 tmpfs /mnt/run
$bb chroot /mnt "$@"
rc=$?
echo "$rc" > /rc
# ash's own kill: it spares the shell itself (and PID 1); daemons a script left go.
kill -KILL -1 2>/dev/null
$bb umount /mnt/dev/pts /mnt/dev /mnt/run /mnt/sys /mnt/proc
$bb rmdir /mnt/lost+found 2>/dev/null
if [ "$back" = vm-tar ]; then
  $bb chroot /mnt tar --create --file=- --directory=/ --numeric-owner --xattrs --xattrs-include='*' --one-file-system . > /dev/vdb || { echo "sborka: cannot copy the root back"; exit 124; }
fi
$bb sync
$bb umount /mnt || { echo "sborka: cannot unmount the root disk"; exit 124; }
: > /copied
exit "$rc"
`;

/** The VM's 9p root: busybox-static of the root's arch (the runner's own kernel suite) and the helper script. */
async function helperRoot(ctx: KindContext, arch: VmArch, work: string): Promise<string> {
  const helper = path.join(work, 'helper');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'run', 'mnt']) await fs.mkdir(path.join(helper, d), { recursive: true });
  const { deb } = await fetchArchPackage(arch, 'busybox-static', { stateDir: ctx.config.stateDir, signal: ctx.signal });
  const x = path.join(work, 'busybox');
  const r = await runTool(ctx, ['dpkg-deb', '-x', deb, x], { phase: 'busybox for the VM' });
  if (!r.ok) throw r.failure;
  const bin = (await fs.stat(path.join(x, 'bin/busybox')).catch(() => undefined)) ? path.join(x, 'bin/busybox') : path.join(x, 'usr/bin/busybox');
  await fs.copyFile(bin, path.join(helper, 'bin/busybox'));
  await fs.chmod(path.join(helper, 'bin/busybox'), 0o755);
  await fs.symlink('busybox', path.join(helper, 'bin/sh'));
  await fs.writeFile(path.join(helper, 'run.sh'), HELPER_SCRIPT);
  return helper;
}

/** Bytes the tree's files take (rounded to 4 KiB blocks). */
async function treeBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const st = await fs.lstat(path.join(e.parentPath, e.name));
    bytes += Math.ceil(st.size / 4096) * 4096;
  }
  return bytes;
}

const VM_ARCH: Record<string, VmArch> = { amd64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64' };
