// Booting a disk image in qemu-system until a text shows on its serial console, shared by the
// boot tests of both toolchains: the qemu binary and machine of each arch, how the boot disk
// is attached, the run itself (own process group, timeout, cancellation: qemu never outlives
// it), the console kept in the step's outputs and log, and the shape of a failed test.
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Arch } from '../../plan/plan';
import { badInput, stepFailed } from '../failures';
import type { KindContext } from '../kinds/registry';
import { STAGING_ENV } from '../orphans';
import { runProcess, stepEnv, type ProcessOutcome } from '../process-runner';
import { appendLogLines } from '../step-log';
import type { Accel } from './qemu';

interface QemuMachine {
  binary: string;
  machine: string;
  /** The TCG CPU model; under KVM the host's own. */
  cpu?: string;
  /** The machine's default firmware when the caller names none (riscv64: qemu's OpenSBI). */
  bios?: string;
}

const QEMU_SYSTEM: Partial<Record<Arch, QemuMachine>> = {
  x86_64: { binary: 'qemu-system-x86_64', machine: 'pc', cpu: 'qemu64' },
  i586: { binary: 'qemu-system-i386', machine: 'pc', cpu: 'qemu32' },
  aarch64: { binary: 'qemu-system-aarch64', machine: 'virt', cpu: 'cortex-a57' },
  riscv64: { binary: 'qemu-system-riscv64', machine: 'virt', bios: 'default' },
};

/** Arches qemuBootArgv can boot. */
const BOOTABLE_ARCHES = Object.keys(QEMU_SYSTEM) as Arch[];

const CONSOLE_TAIL_LINES = 40;

/** qemu's option syntax doubles commas inside values. */
export function qemuPath(p: string): string {
  return p.replace(/,/g, ',,');
}

export interface QemuBootSpec {
  arch: Arch;
  accel: Accel;
  /** The serial console goes to this file. */
  consoleLog: string;
  /** -bios firmware; the machine's default (if any) when absent. */
  bios?: string;
  /** Who boots, for the error on an arch without a machine ("the debian toolchain"). */
  who: string;
}

/** qemu-system with the arch's machine, no devices but the serial console (to a file), no network, no reboot. */
export function qemuBootArgv(spec: QemuBootSpec): string[] {
  const m = QEMU_SYSTEM[spec.arch];
  if (!m) throw badInput(`boot test: arch ${spec.arch} cannot be booted by ${spec.who} (it boots ${BOOTABLE_ARCHES.join(', ')})`);
  const kvm = spec.accel === 'kvm';
  // KVM on arm64 hosts needs the host's GIC version; qemu's default (v2) is missing on many.
  const machine = kvm && spec.arch === 'aarch64' ? `${m.machine},gic-version=host` : m.machine;
  const cpu = kvm ? 'host' : m.cpu;
  const bios = spec.bios ?? m.bios;
  return [
    m.binary, '-machine', machine, ...(cpu ? ['-cpu', cpu] : []), ...(bios ? ['-bios', bios] : []),
    '-accel', spec.accel, '-m', '1024', '-smp', '2', '-nodefaults', '-no-user-config',
    '-display', 'none', '-monitor', 'none', '-serial', `file:${qemuPath(spec.consoleLog)}`, '-no-reboot', '-nic', 'none',
  ];
}

/** Firmware a boot test may start a machine with: the machine's own (SeaBIOS on pc), or UEFI. */
export type Firmware = 'bios' | 'uefi';

/** UEFI firmware per arch (Debian's ovmf and qemu-efi-aarch64 packages): code read-only, a copy of the variable store. */
const UEFI_FIRMWARE: Partial<Record<Arch, { code: string; vars: string; pkg: string }>> = {
  x86_64: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd', pkg: 'ovmf' },
  aarch64: { code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd', pkg: 'qemu-efi-aarch64' },
};

/**
 * qemu options for the firmware: none for the machine's BIOS; for UEFI two pflash drives,
 * the variable store a fresh copy in workDir (the firmware writes its boot entries there).
 */
export async function firmwareArgv(arch: Arch, firmware: Firmware, workDir: string): Promise<string[]> {
  if (firmware === 'bios') return [];
  const fw = UEFI_FIRMWARE[arch];
  if (!fw) throw badInput(`boot test: no UEFI firmware is known for ${arch}`);
  const vars = path.join(workDir, `uefi-vars-${arch}.fd`);
  try {
    await fs.copyFile(fw.vars, vars);
    await fs.access(fw.code);
  } catch {
    throw badInput(`boot test: UEFI firmware for ${arch} is missing (${fw.code}, ${fw.vars}): install Debian's ${fw.pkg} package`);
  }
  return [
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${qemuPath(fw.code)}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${qemuPath(vars)}`,
  ];
}

export type BootMedium = { path: string; format: 'raw' | 'qcow2'; snapshot: boolean } | { path: string; format: 'iso' };

/**
 * The boot disk: a disk image as a virtio disk (snapshot: the image itself is never written),
 * an ISO as a CD-ROM (IDE on the PC machine, which every installer kernel reads; virtio-scsi
 * on `virt`, which has no IDE). bootindex keeps it first when other disks are attached.
 */
export function bootDiskArgv(arch: Arch, medium: BootMedium): string[] {
  const file = `file=${qemuPath(medium.path)}`;
  if (medium.format !== 'iso') {
    return ['-drive', `${file},format=${medium.format},if=none,id=disk${medium.snapshot ? ',snapshot=on' : ''}`, '-device', 'virtio-blk-pci,drive=disk,bootindex=0'];
  }
  const drive = ['-drive', `${file},format=raw,if=none,id=cd,media=cdrom,readonly=on`];
  if (QEMU_SYSTEM[arch]?.machine === 'pc') return [...drive, '-device', 'ide-cd,drive=cd,bootindex=0'];
  return ['-device', 'virtio-scsi-pci,id=scsi', ...drive, '-device', 'scsi-cd,drive=cd,bus=scsi.0,bootindex=0'];
}

export interface BootRun { matched: boolean; console: string; elapsedMs: number; why: string; outcome: ProcessOutcome }

/**
 * The console as programs wrote it: without the kernel's timestamped messages. The kernel
 * writes those to the serial port between any two characters that are waiting in the tty's
 * buffer, so a module loading late in the boot can split getty's "login:" in two.
 */
export function withoutKernelMessages(text: string): string {
  return text.replace(/\[ *\d+\.\d{6}\] [^\n]*\n/g, '');
}

/**
 * Console lines after which a boot cannot reach its expected text: the verdict is in, and
 * waiting out the timeout (minutes under TCG) would only delay it. Each is what the named
 * program prints when it refuses to go on.
 */
const BOOT_STOPPED: { by: string; line: RegExp }[] = [
  { by: 'shim refused the next loader', line: /Verification failed: \(0x1A\) Security Violation/ },
  { by: 'GRUB refused the kernel (shim lock)', line: /error: bad shim signature/ },
  { by: 'the firmware refused the loader (Secure Boot)', line: /BdsDxe: failed to load Boot\w+ .*: Access Denied/ },
  { by: 'the kernel panicked', line: /Kernel panic - not syncing/ },
];

function bootStopped(text: string): string | undefined {
  for (const s of BOOT_STOPPED) {
    const m = s.line.exec(text);
    if (m) return `: ${s.by} ("${m[0]}")`;
  }
  return undefined;
}

/**
 * Runs qemu until `done(console)` holds, the timeout passes, the console shows the boot
 * cannot go on (BOOT_STOPPED) or qemu ends; qemu's process group is always gone afterwards.
 * `done` sees the console without the kernel's messages.
 */
export async function bootUntil(ctx: KindContext, argv: string[], consoleLog: string, timeoutMs: number, done: (text: string) => boolean): Promise<BootRun> {
  const local = new AbortController();
  const signal = AbortSignal.any([ctx.signal, local.signal]);
  const started = Date.now();
  let matched = false;
  let timedOut = false;
  let stopped: string | undefined;
  const readConsole = () => {
    try {
      return readFileSync(consoleLog, 'latin1');
    } catch {
      return '';
    }
  };
  ctx.progress({ phase: 'booting' });
  const poll = setInterval(() => {
    const text = readConsole();
    if (!matched && done(withoutKernelMessages(text))) {
      matched = true;
      local.abort();
    } else if (!matched && !stopped && (stopped = bootStopped(text))) {
      local.abort();
    }
    const last = text.trimEnd().split('\n').at(-1);
    if (last) ctx.progress({ phase: 'booting', lastLine: last });
  }, 250);
  const timer = setTimeout(() => {
    timedOut = true;
    local.abort();
  }, timeoutMs);
  let outcome: ProcessOutcome;
  try {
    outcome = await runProcess({
      argv, logPath: ctx.logPath, attempt: ctx.attempt, logger: ctx.logger, signal, killGraceMs: 3000, cwd: ctx.workDir,
      // TMPDIR is the work directory: snapshot=on keeps its overlay there, gone with the step.
      env: { ...stepEnv(ctx.workDir), [STAGING_ENV]: path.dirname(ctx.outputsDir) },
    });
  } finally {
    clearInterval(poll);
    clearTimeout(timer);
  }
  if (ctx.signal.aborted) throw ctx.signal.reason instanceof CancelledFailure ? ctx.signal.reason : new CancelledFailure('boot test cancelled');
  const text = readConsole();
  if (!matched && done(withoutKernelMessages(text))) matched = true;
  const elapsedMs = Date.now() - started;
  if (outcome.spawnError) throw badInput(`cannot run ${argv[0]}: ${outcome.spawnError} (is qemu installed?)`);
  stopped ??= matched ? undefined : bootStopped(text);
  const why = stopped ?? (timedOut ? `within ${timeoutMs} ms` : `before qemu ended (${outcome.signal ? `signal ${outcome.signal}` : `exit code ${outcome.exitCode}`})`);
  if (!matched && !timedOut && !stopped && outcome.exitCode !== 0) {
    // qemu itself failed (a bad option, no memory): worth a retry, not a verdict on the image.
    throw stepFailed(`boot test: ${argv[0]} ended with ${outcome.signal ?? `exit code ${outcome.exitCode}`} before the expected console text; see ${ctx.logPath}\n${consoleTail(text)}`);
  }
  return { matched, console: text, elapsedMs, why, outcome };
}

/**
 * A boot test's verdict: boots argv until `expect` shows on the console, keeps the console
 * and writes result.json (`result` adds what was booted), or throws the failed test.
 */
export async function expectOnConsole(
  ctx: KindContext,
  o: { argv: string[]; consoleLog: string; expect: string; timeoutMs: number; result: Record<string, unknown> },
): Promise<BootRun> {
  const run = await bootUntil(ctx, o.argv, o.consoleLog, o.timeoutMs, (text) => text.includes(o.expect));
  const result = { type: 'boot', passed: run.matched, expect: o.expect, ...o.result, elapsedMs: run.elapsedMs, qemu: o.argv };
  await keepConsole(ctx, run.console);
  if (!run.matched) throw testFailed(`boot test: "${o.expect}" did not appear on the console ${run.why}`, run.console, result);
  await fs.writeFile(path.join(ctx.outputsDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return run;
}

export async function keepConsole(ctx: KindContext, text: string, name = 'console.log'): Promise<void> {
  await fs.writeFile(path.join(ctx.outputsDir, name), text);
  // The step log outlives a failed step's outputs: the console goes there too.
  await appendLogLines(ctx.logPath, [`--- sborka: serial console of the VM${name === 'console.log' ? '' : ` (${name})`}:`, ...text.replace(/\r/g, '').split('\n')]);
}

function consoleTail(text: string): string {
  return text.replace(/\r/g, '').trimEnd().split('\n').slice(-CONSOLE_TAIL_LINES).join('\n');
}

/** A verdict on the image: retrying cannot change it. */
export function testFailed(message: string, consoleText: string, result: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'PolicyViolation', nonRetryable: true,
    message: `${message}\nlast console lines:\n${consoleTail(consoleText)}`, details: [result],
  });
}
