// Shared fixtures for the VM tests: a kernel cache for every test run on this machine (so
// kernels are downloaded and built once, not per clone) and busybox-based roots of each
// architecture.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../activities/vm/debian-mirror';
import { fetchArchPackage, type VmArch } from '../../activities/vm/kernels';
import { groupIsRunning, processIsRunning } from '../../activities/process-runner';

/**
 * The tests' VM state dir, beside the .deb cache in os.tmpdir() and not in the clone: its
 * vm-kernels/ is a download cache keyed by the kernel and busybox packages' versions and the
 * initramfs recipe, so every run and every clone on this machine shares it (a fresh clone
 * would otherwise fetch ~200 MB of kernels again).
 */
export const stateDir = path.join(os.tmpdir(), 'sborka-test-vm-state');
fs.mkdirSync(path.join(stateDir, 'vm-kernels'), { recursive: true });

export const ARCHES: readonly VmArch[] = ['x86_64', 'aarch64', 'riscv64'];

const APPLETS = ['sh', 'true', 'false', 'sleep', 'echo', 'cat', 'printf', 'pwd', 'uname', 'ls', 'mount'];

/** A root with only busybox-static of `arch` (a real userland of that architecture). */
export async function busyboxRoot(arch: VmArch, parent: string): Promise<string> {
  const { deb } = await fetchArchPackage(arch, 'busybox-static', { stateDir });
  const x = await fs.promises.mkdtemp(path.join(parent, `bb-${arch}-`));
  await run(['dpkg-deb', '-x', deb, x]);
  const root = path.join(parent, `root-${arch}`);
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'run']) await fs.promises.mkdir(path.join(root, d), { recursive: true });
  const bin = [path.join(x, 'bin/busybox'), path.join(x, 'usr/bin/busybox')].find((f) => fs.existsSync(f))!;
  await fs.promises.copyFile(bin, path.join(root, 'bin/busybox'));
  await fs.promises.chmod(path.join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) await fs.promises.symlink('busybox', path.join(root, 'bin', a));
  await fs.promises.rm(x, { recursive: true, force: true });
  return root;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Pids of qemu processes we started: none may be alive when a test ends. */
export const qemuPids = new Set<number>();

export function noneAlive(): number[] {
  return [...qemuPids].filter((pid) => processIsRunning(pid) || groupIsRunning(pid));
}
