// Whether KVM really works here. /dev/kvm existing proves little (on our machines it
// exists and qemu then dies on "failed to set MSR" or "KVM internal error"), so the probe
// boots our own kernel + initramfs under KVM and counts KVM as usable only when the
// guest's init reports back. The answer is cached for the life of the process.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { prepareVmKernel, type VmArch } from './kernels';
import { bootVm, type Accel } from './qemu';

export const KvmMode = z.enum(['try', 'cond', 'only', 'tcg']);
export type KvmMode = z.infer<typeof KvmMode>;

export const KvmStatus = z.object({
  usable: z.boolean(),
  /** The host architecture KVM would run (undefined: not one we can boot). */
  hostArch: z.enum(['x86_64', 'aarch64', 'riscv64']).optional(),
  reason: z.string(),
});
export type KvmStatus = z.infer<typeof KvmStatus>;

export function hostVmArch(arch: string = process.arch): VmArch | undefined {
  return arch === 'x64' ? 'x86_64' : arch === 'arm64' ? 'aarch64' : arch === 'riscv64' ? 'riscv64' : undefined;
}

/** Lines qemu prints when KVM cannot run the guest; seeing one ends the probe at once. */
const KVM_BROKEN = /KVM internal error|failed to set MSR|kvm_.*Assertion|Could not access KVM|failed to initialize kvm|error: kvm/i;

export interface DetectKvmOptions {
  stateDir: string;
  logger?: Logger;
  /** How long a healthy KVM guest may take to report back (default 60 s). */
  budgetMs?: number;
  kvmDevice?: string;
}

let cached: Promise<KvmStatus> | undefined;

/** The process-wide answer (probed once). */
export function detectKvm(options: DetectKvmOptions): Promise<KvmStatus> {
  if (!cached) {
    cached = probeKvm(options);
    cached.catch(() => (cached = undefined));
  }
  return cached;
}

/** Forgets the cached answer (tests; a host whose KVM was just fixed). */
export function resetKvmCache(): void {
  cached = undefined;
}

/** Probes without the cache. */
export async function probeKvm(options: DetectKvmOptions): Promise<KvmStatus> {
  const hostArch = hostVmArch();
  if (!hostArch) return { usable: false, reason: `no VM kernel for host architecture ${process.arch}` };
  const dev = options.kvmDevice ?? '/dev/kvm';
  try {
    await fs.promises.access(dev, fs.constants.R_OK | fs.constants.W_OK);
  } catch (err) {
    return { usable: false, hostArch, reason: `${dev} is not usable: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const r = await probeAccel(hostArch, 'kvm', options);
  return { usable: r.ok, hostArch, reason: r.reason };
}

/**
 * Boots the probe guest of `arch` with `accel`: ok when its init reported back in time.
 * Under TCG it must always pass, which is what shows that a KVM failure is KVM's.
 */
export async function probeAccel(arch: VmArch, accel: Accel, options: DetectKvmOptions): Promise<{ ok: boolean; reason: string }> {
  const kernel = await prepareVmKernel(arch, { stateDir: options.stateDir });
  const logDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sborka-kvm-probe-'));
  const consoleLog = path.join(logDir, 'console.log');
  const ac = new AbortController();
  let broken: string | undefined;
  const timer = setTimeout(() => ac.abort(), options.budgetMs ?? 60_000);
  try {
    const out = await bootVm(
      { arch, accel, kernel, memMiB: 256, cpus: 1, append: '', verbose: false, mounts: [], drives: [], command: ['true'], env: {}, probe: true },
      {
        consoleLog,
        signal: ac.signal,
        logger: options.logger,
        onLine: (line) => {
          if (!broken && KVM_BROKEN.test(line)) {
            broken = line.trim();
            ac.abort();
          }
        },
      },
    );
    if (out.guestExitCode === 0 && !out.process.cancelled) return { ok: true, reason: `${accel} booted a ${arch} guest in ${out.process.durationMs} ms` };
    if (broken) return { ok: false, reason: `qemu -accel ${accel}: ${broken}` };
    if (out.process.cancelled) return { ok: false, reason: `qemu -accel ${accel} did not boot a ${arch} guest within ${options.budgetMs ?? 60_000} ms` };
    const tail = (await fs.promises.readFile(consoleLog, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
    const how = out.process.spawnError ?? (out.process.signal ? `signal ${out.process.signal}` : `exit code ${out.process.exitCode}`);
    return { ok: false, reason: `qemu -accel ${accel} ended (${how}) without the guest reporting: ${tail}` };
  } finally {
    clearTimeout(timer);
    await fs.promises.rm(logDir, { recursive: true, force: true });
  }
}

export type AccelChoice = { run: true; accel: Accel; reason: string } | { run: false; status: 'skipped' | 'kvm-unavailable'; reason: string };

/** vm-run's --kvm semantics: which accelerator to use, or why not to run at all. */
export function chooseAccel(mode: KvmMode, guest: VmArch, kvm: KvmStatus | undefined): AccelChoice {
  if (mode === 'tcg') return { run: true, accel: 'tcg', reason: 'TCG requested' };
  const why = !kvm
    ? 'KVM was not probed'
    : kvm.hostArch !== guest
      ? `KVM cannot run a ${guest} guest on a ${kvm.hostArch ?? process.arch} host`
      : kvm.usable
        ? undefined
        : kvm.reason;
  if (why === undefined) return { run: true, accel: 'kvm', reason: kvm!.reason };
  if (mode === 'try') return { run: true, accel: 'tcg', reason: `falling back to TCG: ${why}` };
  if (mode === 'cond') return { run: false, status: 'skipped', reason: `skipped (--kvm=cond): ${why}` };
  return { run: false, status: 'kvm-unavailable', reason: `KVM is required (--kvm=only): ${why}` };
}
