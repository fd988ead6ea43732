// Boots one qemu-system-<arch> VM with our kernel + initramfs, the control share and the
// root share, and reads back what the guest's init reported. The argv is built from typed
// values only; every host path reaches qemu as one argv element (commas escaped, as
// qemu's option syntax requires), never through a shell.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import pino from 'pino';
import { runProcess, type ProcessOutcome } from '../process-runner';
import { CTL_TAG, mountId, mountTag, ROOT_TAG } from './initramfs';
import type { VmArch, VmKernel } from './kernels';

export type Accel = 'kvm' | 'tcg';

/** opensbi's own build (the opensbi package) when installed, else qemu's bundled copy. */
const OPENSBI_FW = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';

export const MACHINES: Record<VmArch, { qemu: string; console: string }> = {
  x86_64: { qemu: 'qemu-system-x86_64', console: 'ttyS0' },
  aarch64: { qemu: 'qemu-system-aarch64', console: 'ttyAMA0' },
  riscv64: { qemu: 'qemu-system-riscv64', console: 'ttyS0' },
};

export interface VmSpec {
  arch: VmArch;
  accel: Accel;
  kernel: Pick<VmKernel, 'kernelPath' | 'initrdPath'>;
  memMiB: number;
  cpus: number;
  /** Extra kernel command line, after ours. */
  append: string;
  verbose: boolean;
  /** The host directory that is the guest's /; absent for the KVM probe. */
  root?: { path: string; readOnly: boolean; securityModel: SecurityModel };
  mounts: Array<{ hostPath: string; guestPath: string; readOnly: boolean }>;
  drives: Array<{ path: string; format: 'raw' | 'qcow2'; readOnly: boolean }>;
  command: readonly string[];
  env: Record<string, string>;
  cwd?: string;
  /** Only boot and report 0: the KVM probe. */
  probe?: boolean;
}

export type SecurityModel = 'passthrough' | 'mapped-xattr' | 'none';

/** qemu's option values separate keys by commas; a literal comma is written twice. */
const q = (value: string) => value.replace(/,/g, ',,');

export function qemuArgv(spec: VmSpec, ctlDir: string): string[] {
  const m = MACHINES[spec.arch];
  const argv = [m.qemu, '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'];
  switch (spec.arch) {
    case 'x86_64':
      argv.push('-M', 'q35');
      if (spec.accel === 'kvm') argv.push('-cpu', 'host');
      break;
    case 'aarch64':
      // pauth-impdef: TCG's architected pointer-auth hash is very slow and buys nothing here.
      argv.push('-M', 'virt', '-cpu', spec.accel === 'kvm' ? 'host' : 'max,pauth-impdef=on');
      break;
    case 'riscv64':
      argv.push('-M', 'virt', '-bios', fs.existsSync(OPENSBI_FW) ? OPENSBI_FW : 'default');
      break;
  }
  argv.push('-accel', spec.accel, '-m', String(spec.memMiB), '-smp', String(spec.cpus));
  argv.push('-serial', 'stdio');
  const cmdline = [`console=${m.console}`, 'panic=-1', ...(spec.verbose ? [] : ['quiet']), spec.append.trim()].filter(Boolean);
  argv.push('-kernel', spec.kernel.kernelPath, '-initrd', spec.kernel.initrdPath, '-append', cmdline.join(' '));
  const share = (id: string, tag: string, dir: string, model: SecurityModel, readOnly: boolean) => {
    // multidevs=remap: a shared tree spanning several host filesystems keeps unique inode numbers.
    argv.push('-fsdev', `local,id=${id},path=${q(dir)},security_model=${model},multidevs=remap${readOnly ? ',readonly=on' : ''}`);
    argv.push('-device', `virtio-9p-pci,fsdev=${id},mount_tag=${tag}`);
  };
  share('ctl', CTL_TAG, ctlDir, 'none', false);
  if (spec.root) {
    share('root', ROOT_TAG, spec.root.path, spec.root.securityModel, spec.root.readOnly);
    spec.mounts.forEach((mnt, i) => share(`m${i}`, mountTag(i), mnt.hostPath, spec.root!.securityModel, mnt.readOnly));
  }
  spec.drives.forEach((d, i) => {
    argv.push('-drive', `if=none,id=d${i},file=${q(d.path)},format=${d.format}${d.readOnly ? ',readonly=on' : ''}`);
    argv.push('-device', `virtio-blk-pci,drive=d${i}`);
  });
  argv.push('-device', 'virtio-rng-pci');
  return argv;
}

export interface BootHooks {
  consoleLog: string;
  signal: AbortSignal;
  logger?: Logger;
  attempt?: number;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface BootOutcome {
  process: ProcessOutcome;
  /** What the guest's init wrote: the command's exit code, or why it could not run it. */
  guestExitCode?: number;
  guestError?: string;
  argv: string[];
}

/** Writes the control share, runs qemu to its end (or until `signal` aborts), reads the report. */
export async function bootVm(spec: VmSpec, hooks: BootHooks): Promise<BootOutcome> {
  const ctlDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sborka-vm-ctl-'));
  try {
    await writeControl(ctlDir, spec);
    const argv = qemuArgv(spec, ctlDir);
    const outcome = await runProcess({
      argv,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      logPath: hooks.consoleLog,
      attempt: hooks.attempt ?? 1,
      logger: hooks.logger ?? pino({ level: 'silent' }),
      signal: hooks.signal,
      onLine: hooks.onLine,
      // qemu stops at once on SIGTERM; there is no guest state worth a long grace.
      killGraceMs: 3000,
    });
    const rcText = await fs.promises.readFile(path.join(ctlDir, 'rc'), 'utf8').catch(() => undefined);
    const errText = await fs.promises.readFile(path.join(ctlDir, 'error'), 'utf8').catch(() => undefined);
    const rc = rcText !== undefined && /^\d+\s*$/.test(rcText) ? Number(rcText.trim()) : undefined;
    return { process: outcome, guestExitCode: rc, guestError: errText?.trim(), argv };
  } finally {
    await fs.promises.rm(ctlDir, { recursive: true, force: true });
  }
}

async function writeControl(ctlDir: string, spec: VmSpec): Promise<void> {
  const idx = (i: number) => String(i).padStart(6, '0');
  const writeList = async (dir: string, values: readonly string[]) => {
    await fs.promises.mkdir(path.join(ctlDir, dir));
    await Promise.all(values.map((v, i) => fs.promises.writeFile(path.join(ctlDir, dir, idx(i)), v)));
  };
  if (spec.probe) {
    await fs.promises.writeFile(path.join(ctlDir, 'probe'), '');
    return;
  }
  await writeList('argv', spec.command);
  await writeList('env', Object.entries(spec.env).map(([k, v]) => `${k}=${v}`));
  if (spec.cwd !== undefined) await fs.promises.writeFile(path.join(ctlDir, 'cwd'), spec.cwd);
  if (spec.root?.readOnly) await fs.promises.writeFile(path.join(ctlDir, 'root-ro'), '');
  await fs.promises.mkdir(path.join(ctlDir, 'mounts'));
  await fs.promises.mkdir(path.join(ctlDir, 'mounts-ro'));
  for (const [i, mnt] of spec.mounts.entries()) {
    await fs.promises.writeFile(path.join(ctlDir, 'mounts', mountId(i)), mnt.guestPath);
    if (mnt.readOnly) await fs.promises.writeFile(path.join(ctlDir, 'mounts-ro', mountId(i)), '');
  }
}
