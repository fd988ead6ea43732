// Running a program inside a build root. On the host's own arch: bubblewrap with the root
// as "/", fresh pid, net, ipc and uts namespaces (no network), a minimal /dev and /proc.
// A root of another arch cannot run here (no binfmt_misc): that goes to a qemu VM, and
// runInForeignRoot is the one place that knows how.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { badInput, stepFailed } from '../failures';
import type { KindContext } from '../kinds/registry';
import type { VmArch } from '../vm/kernels';
import { runInVm } from '../vm/run-in-vm';
import { hostDebArch } from './mmdebstrap';
import { runTool, type ToolRun } from './run-tool';

export interface InRootRun {
  argv: readonly string[];
  env?: Record<string, string>;
  phase: string;
}

const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs argv inside the root; returns its output and whether it succeeded (cancellation throws). */
export async function runInRoot(ctx: KindContext, root: string, debArch: string, run: InRootRun): Promise<ToolRun> {
  if (debArch !== hostDebArch()) return runInForeignRoot(ctx, root, debArch, run);
  const env = { PATH: ROOT_PATH, HOME: '/root', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', ...run.env };
  return runTool(ctx, [
    'bwrap',
    '--bind', root, '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--tmpfs', '/tmp',
    '--tmpfs', '/run',
    // No user namespace: files the programs chown (a user's home) must keep real owners.
    '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try',
    '--hostname', 'sborka',
    '--die-with-parent',
    '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--chdir', '/',
    '--',
    ...run.argv,
  ], { phase: run.phase });
}

/** A foreign root's programs run inside a qemu VM of its arch (the vm-run-compatible runner), the root shared over 9p. */
async function runInForeignRoot(ctx: KindContext, root: string, debArch: string, run: InRootRun): Promise<ToolRun> {
  const arch = VM_ARCH[debArch];
  if (!arch) throw badInput(`step "${ctx.step.id}": no VM runs ${debArch} roots`);
  // An unpacked root lacks the mount points the VM's init fills.
  for (const [dir, mode] of [['proc', 0o555], ['sys', 0o555], ['dev', 0o755], ['run', 0o755], ['tmp', 0o1777]] as const) {
    await fs.mkdir(path.join(root, dir), { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  const lines: string[] = [];
  const result = await runInVm({
    arch, root, command: [...run.argv], env: { DEBIAN_FRONTEND: 'noninteractive', ...run.env },
    memMiB: 1024, cpus: 2, consoleLog: ctx.logPath, stateDir: ctx.config.stateDir, attempt: ctx.attempt,
    timeoutMs: 60 * 60_000, signal: ctx.signal, logger: ctx.logger,
    onConsoleLine: (line) => {
      if (lines.length >= 5000) lines.shift();
      lines.push(line);
      ctx.progress({ phase: run.phase, lastLine: line });
    },
  });
  if (result.status === 'cancelled') throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new CancelledFailure('cancelled');
  if (result.status === 'exited') {
    return result.exitCode === 0 ? { ok: true, lines } : { ok: false, lines, failure: stepFailed(`${run.argv[0]} exited with code ${result.exitCode} in the ${arch} VM`) };
  }
  // The VM itself failed (timeout, panic, qemu error): a retry may fare better.
  throw stepFailed(`step "${ctx.step.id}": ${run.phase} in a ${arch} VM: ${result.status}: ${result.reason}; console: ${result.consoleLog}`);
}

const VM_ARCH: Record<string, VmArch> = { amd64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64' };
