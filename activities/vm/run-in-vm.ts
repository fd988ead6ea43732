// runInVm: ALT's vm-run for the debian toolchain. Runs one command inside a
// qemu-system-<arch> VM whose / is a host directory shared over virtio-9p, and returns
// the command's own exit code. The console (kernel, init and the command's output) goes
// to a log file; a timeout or the caller's AbortSignal kills qemu's process group, and
// no qemu outlives the call.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { badInput } from '../failures';
import { chooseAccel, detectKvm, hostVmArch, KvmMode } from './kvm';
import { prepareVmKernel, VmArch, type VmKernel } from './kernels';
import { bootVm } from './qemu';

const GuestPath = z
  .string()
  .regex(/^\/[^\n\0]*$/, 'an absolute guest path without newlines')
  .refine((p) => !p.split('/').includes('..'), 'no ".." components');

export const VmMount = z.object({
  hostPath: z.string().min(1),
  guestPath: GuestPath,
  readOnly: z.boolean().default(false),
});
export type VmMount = z.infer<typeof VmMount>;

export const VmDrive = z.object({
  path: z.string().min(1),
  format: z.enum(['raw', 'qcow2']).default('raw'),
  readOnly: z.boolean().default(false),
});
export type VmDrive = z.infer<typeof VmDrive>;

export const DEFAULT_GUEST_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  TERM: 'dumb',
  LANG: 'C.UTF-8',
};

export const RunInVmOptions = z.object({
  arch: VmArch,
  /** argv of the command, run inside the VM's root (PATH lookup there). */
  command: z.array(z.string().refine((a) => !a.includes('\0'), 'no NUL bytes')).min(1),
  /** Host directory that becomes the guest's / (e.g. an unpacked foreign-arch Debian root). */
  root: z.string().min(1),
  rootReadOnly: z.boolean().default(false),
  /**
   * 9p security model of the root and mounts. passthrough (default) keeps real owners and
   * modes and needs qemu to run as root; mapped-xattr stores them in xattrs.
   */
  securityModel: z.enum(['passthrough', 'mapped-xattr', 'none']).default('passthrough'),
  /** More host directories, mounted (mount points created) after the root. */
  mounts: z.array(VmMount).default([]),
  /** Disk images attached as virtio-blk (/dev/vda, /dev/vdb, …). */
  drives: z.array(VmDrive).default([]),
  /** vm-run's --kvm: try (KVM if it works, else TCG), cond (KVM or skip), only (KVM or fail), tcg. */
  kvm: KvmMode.default('try'),
  memMiB: z.number().int().min(64).max(1 << 20).default(512),
  cpus: z.number().int().min(1).max(64).default(1),
  /** Extra kernel command line (vm-run's --append). */
  append: z.string().refine((a) => !/[\n\0]/.test(a), 'one line').default(''),
  /** Kernel messages on the console (no "quiet"). */
  verbose: z.boolean().default(false),
  /** The guest command's environment: DEFAULT_GUEST_ENV overridden by these. */
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().refine((v) => !v.includes('\0'))).default({}),
  /** Working directory inside the guest (needs /bin/sh in the root); default /. */
  cwd: GuestPath.optional(),
  /** Where the console goes (appended). */
  consoleLog: z.string().min(1),
  /** Whole run, boot included. */
  timeoutMs: z.number().int().positive().default(30 * 60_000),
  /** config.stateDir: where kernels are cached (<stateDir>/vm-kernels). */
  stateDir: z.string().min(1),
  /** Temporal attempt number, written into the console log's header line. */
  attempt: z.number().int().min(1).default(1),
});
export type RunInVmOptions = z.infer<typeof RunInVmOptions>;

/** What callers pass: the schema's input plus the things that are not data. */
export type RunInVmInput = z.input<typeof RunInVmOptions> & {
  signal?: AbortSignal;
  logger?: Logger;
  /** Each console line (stream 'stdout') and qemu diagnostic line ('stderr') as it comes. */
  onConsoleLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** A kernel prepared earlier (prepareVmKernel); default: prepared (cached) for `arch`. */
  kernel?: VmKernel;
};

export const VmRunStatus = z.enum([
  /** The command ran; exitCode is its own exit status (128+N when killed by signal N in the guest). */
  'exited',
  /** --kvm=cond without working KVM: nothing ran. Not a pass. */
  'skipped',
  /** --kvm=only without working KVM: nothing ran. */
  'kvm-unavailable',
  /** timeoutMs passed: qemu was killed. */
  'timeout',
  /** The caller's AbortSignal fired: qemu was killed. */
  'cancelled',
  /** qemu or the guest failed before the command could report (panic, bad root, qemu error). */
  'vm-failed',
]);
export type VmRunStatus = z.infer<typeof VmRunStatus>;

export const VmRunResult = z.object({
  status: VmRunStatus,
  /** Present exactly when status is 'exited'. */
  exitCode: z.number().int().optional(),
  accel: z.enum(['kvm', 'tcg']).optional(),
  /** Why it was skipped/failed, or which accelerator was chosen and why. */
  reason: z.string(),
  consoleLog: z.string(),
  durationMs: z.number(),
  qemu: z
    .object({ argv: z.array(z.string()), pid: z.number().optional(), exitCode: z.number().nullable(), signal: z.string().nullable() })
    .optional(),
  kernel: z.object({ package: z.string(), version: z.string(), release: z.string() }).optional(),
});
export type VmRunResult = z.infer<typeof VmRunResult>;

/** True only for a command that ran and exited 0: skipped, timed-out or failed runs are not passes. */
export function vmRunPassed(r: VmRunResult): boolean {
  return r.status === 'exited' && r.exitCode === 0;
}

/**
 * Runs `command` in a VM. Throws BadInput for invalid options (a missing root, a bad
 * path); every other ending is a VmRunResult. Resolves only after qemu is gone.
 */
export async function runInVm(input: RunInVmInput): Promise<VmRunResult> {
  const { signal, logger, onConsoleLine, kernel: givenKernel, ...data } = input;
  const parsed = RunInVmOptions.safeParse(data);
  if (!parsed.success) throw badInput(`runInVm: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  const started = Date.now();
  await checkDir(o.root, 'root');
  for (const m of o.mounts) await checkDir(m.hostPath, `mount ${m.guestPath}`);
  for (const d of o.drives) {
    if (!(await fs.promises.stat(d.path).catch(() => undefined))?.isFile()) throw badInput(`runInVm: drive ${d.path} is not a file`);
  }
  if (o.cwd !== undefined && !(await fs.promises.stat(path.join(o.root, o.cwd)).catch(() => undefined))?.isDirectory()) {
    throw badInput(`runInVm: working directory ${o.cwd} does not exist in ${o.root}`);
  }
  await fs.promises.mkdir(path.dirname(o.consoleLog), { recursive: true });
  const base = { consoleLog: o.consoleLog };

  const wantsKvm = o.kvm !== 'tcg' && hostVmArch() === o.arch;
  const kvm = wantsKvm ? await detectKvm({ stateDir: o.stateDir, logger }) : { usable: false, hostArch: hostVmArch(), reason: '' };
  const choice = chooseAccel(o.kvm, o.arch, kvm);
  if (!choice.run) {
    await fs.promises.appendFile(o.consoleLog, `--- sborka: vm-run ${choice.status}: ${choice.reason}\n`);
    return { ...base, status: choice.status, reason: choice.reason, durationMs: Date.now() - started };
  }
  if (signal?.aborted) return { ...base, status: 'cancelled', reason: 'cancelled before start', durationMs: Date.now() - started };

  const kernel = givenKernel ?? (await prepareVmKernel(o.arch, { stateDir: o.stateDir }));
  const ac = new AbortController();
  let ending: 'timeout' | 'cancelled' | undefined;
  const onAbort = () => {
    ending ??= 'cancelled';
    ac.abort();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const timer = setTimeout(() => {
    ending ??= 'timeout';
    ac.abort();
  }, o.timeoutMs);
  try {
    const out = await bootVm(
      {
        arch: o.arch,
        accel: choice.accel,
        kernel,
        memMiB: o.memMiB,
        cpus: o.cpus,
        append: o.append,
        verbose: o.verbose,
        root: { path: path.resolve(o.root), readOnly: o.rootReadOnly, securityModel: o.securityModel },
        mounts: o.mounts.map((m) => ({ ...m, hostPath: path.resolve(m.hostPath) })),
        drives: o.drives.map((d) => ({ ...d, path: path.resolve(d.path) })),
        command: o.command,
        env: { ...DEFAULT_GUEST_ENV, ...o.env },
        cwd: o.cwd,
      },
      { consoleLog: o.consoleLog, signal: ac.signal, logger, attempt: o.attempt, onLine: onConsoleLine },
    );
    const p = out.process;
    const result = {
      ...base,
      accel: choice.accel,
      durationMs: Date.now() - started,
      qemu: { argv: out.argv, pid: p.pid, exitCode: p.exitCode, signal: p.signal },
      kernel: { package: kernel.kernelPackage, version: kernel.kernelVersion, release: kernel.kernelRelease },
    };
    if (p.cancelled && ending === 'timeout') return { ...result, status: 'timeout', reason: `timed out after ${o.timeoutMs} ms: qemu killed` };
    if (p.cancelled) return { ...result, status: 'cancelled', reason: 'cancelled: qemu killed' };
    if (out.guestExitCode !== undefined) return { ...result, status: 'exited', exitCode: out.guestExitCode, reason: choice.reason };
    const how = p.spawnError
      ? `cannot start ${out.argv[0]}: ${p.spawnError}`
      : p.signal
        ? `qemu was killed by ${p.signal}`
        : `qemu exited with code ${p.exitCode}`;
    const why = out.guestError ? `the guest's init failed: ${out.guestError}` : 'the guest never reported an exit code (kernel panic or qemu error?)';
    return { ...result, status: 'vm-failed', reason: `${why}; ${how}; see ${o.consoleLog}` };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

async function checkDir(dir: string, what: string): Promise<void> {
  const st = await fs.promises.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw badInput(`runInVm: ${what}: ${dir} is not a directory`);
}
