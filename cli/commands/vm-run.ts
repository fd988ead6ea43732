// `sborka vm-run`: ALT's vm-run command line over runInVm. Options come first and end at
// the first non-option (or "--"), so the command's own options are never taken for ours.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CliIo } from '../command';
import { loadConfig } from '../../config/config';
import { hostVmArch, type KvmMode } from '../../activities/vm/kvm';
import { VmArch } from '../../activities/vm/kernels';
import { runInVm, type RunInVmInput, type VmMount } from '../../activities/vm/run-in-vm';

export const VM_RUN_USAGE = `usage: sborka vm-run [options] [--] command [args...]
  --root=DIR           host directory shared over 9p as the VM's / (required)
  --arch=ARCH          x86_64, aarch64 or riscv64 (default: the host's)
  --kvm=try|cond|only  KVM if it works else TCG | run only with KVM (else skip, exit 0) | fail without KVM
  --tcg                never use KVM
  --mem=SIZE           guest memory: MiB, or with K/M/G suffix (default 512M)
  --cpu=N|max          number of virtual CPUs (default 1)
  --append=ARGS        extra kernel command line
  --mount=HOST:GUEST[:ro]  also share HOST at GUEST (repeatable)
  --env=NAME=VALUE     set in the command's environment (repeatable)
  --cwd=DIR            working directory inside the VM
  --timeout=SECONDS    kill the VM after this long (default 1800)
  --console-log=FILE   also keep the console here
  --verbose            kernel messages on the console
exit code: the command's own; 124 timeout, 125 VM failure or KVM unavailable, 130 interrupted, 2 usage`;

export const VM_RUN_EXIT = { usage: 2, timeout: 124, vmFailed: 125, interrupted: 130 } as const;

class UsageError extends Error {}

export interface VmRunIo extends Partial<Pick<CliIo, 'cwd'>> {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Cancels the run; by default SIGINT/SIGTERM of this process do. */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/** Parses vm-run's options into runInVm's input (without console/state paths). */
export function parseVmRunArgs(argv: readonly string[], cwd: string): Omit<RunInVmInput, 'consoleLog' | 'stateDir'> & { consoleLogFile?: string; help?: boolean } {
  let i = 0;
  let arch: VmArch | undefined = hostVmArch();
  let root: string | undefined;
  let kvm: KvmMode = 'try';
  let memMiB: number | undefined;
  let cpus: number | undefined;
  let append = '';
  let verbose = false;
  let timeoutMs: number | undefined;
  let consoleLogFile: string | undefined;
  let workdir: string | undefined;
  const mounts: VmMount[] = [];
  const env: Record<string, string> = {};
  const takeValue = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`--${name} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-h' || a === '--help') return { arch: arch ?? 'x86_64', root: '', command: ['true'], help: true };
    if (!a.startsWith('--')) break;
    const eq = a.indexOf('=');
    const name = a.slice(2, eq >= 0 ? eq : undefined);
    const inline = eq >= 0 ? a.slice(eq + 1) : undefined;
    switch (name) {
      case 'root':
        root = path.resolve(cwd, takeValue(name, inline));
        break;
      case 'arch': {
        const v = VmArch.safeParse(takeValue(name, inline));
        if (!v.success) throw new UsageError(`--arch must be one of ${VmArch.options.join(', ')}`);
        arch = v.data;
        break;
      }
      case 'kvm': {
        const v = takeValue(name, inline);
        if (v !== 'try' && v !== 'cond' && v !== 'only') throw new UsageError('--kvm must be try, cond or only');
        kvm = v;
        break;
      }
      case 'tcg':
      case 'no-kvm':
        kvm = 'tcg';
        break;
      case 'mem':
        memMiB = parseMem(takeValue(name, inline));
        break;
      case 'cpu': {
        const v = takeValue(name, inline);
        cpus = v === 'max' ? os.availableParallelism() : Number(v);
        if (!Number.isInteger(cpus) || cpus < 1) throw new UsageError('--cpu must be a positive number or max');
        break;
      }
      case 'append':
        append = append ? `${append} ${takeValue(name, inline)}` : takeValue(name, inline);
        break;
      case 'mount': {
        const m = /^([^:]+):(\/[^:]*)(:ro)?$/.exec(takeValue(name, inline));
        if (!m) throw new UsageError('--mount wants HOST:GUEST or HOST:GUEST:ro');
        mounts.push({ hostPath: path.resolve(cwd, m[1]!), guestPath: m[2]!, readOnly: Boolean(m[3]) });
        break;
      }
      case 'env': {
        const v = takeValue(name, inline);
        const e = v.indexOf('=');
        if (e <= 0) throw new UsageError('--env wants NAME=VALUE');
        env[v.slice(0, e)] = v.slice(e + 1);
        break;
      }
      case 'cwd':
        workdir = takeValue(name, inline);
        break;
      case 'timeout': {
        const s = Number(takeValue(name, inline));
        if (!(s > 0)) throw new UsageError('--timeout wants a positive number of seconds');
        timeoutMs = Math.round(s * 1000);
        break;
      }
      case 'console-log':
        consoleLogFile = path.resolve(cwd, takeValue(name, inline));
        break;
      case 'verbose':
        verbose = true;
        break;
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  const command = argv.slice(i);
  if (command.length === 0) throw new UsageError('no command given');
  if (!root) throw new UsageError('--root=DIR is required');
  if (!arch) throw new UsageError(`no VM kernel for host architecture ${process.arch}: give --arch`);
  return { arch, root, kvm, memMiB, cpus, append, verbose, timeoutMs, mounts, env, cwd: workdir, command, consoleLogFile };
}

function parseMem(v: string): number {
  const m = /^(\d+)([KkMmGg]?)[Bb]?$/.exec(v);
  if (!m) throw new UsageError('--mem wants a size such as 512, 512M or 2G');
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  const mib = unit === 'G' ? n * 1024 : unit === 'K' ? Math.ceil(n / 1024) : n;
  if (mib < 64) throw new UsageError('--mem: at least 64M');
  return mib;
}

/** Runs vm-run with `argv` (the words after "vm-run"); resolves to the exit code to use. */
export async function vmRunMain(argv: readonly string[], io: VmRunIo): Promise<number> {
  let parsed: ReturnType<typeof parseVmRunArgs>;
  try {
    parsed = parseVmRunArgs(argv, io.cwd ?? process.cwd());
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`vm-run: ${err.message}\n${VM_RUN_USAGE}\n`);
    return VM_RUN_EXIT.usage;
  }
  if (parsed.help) {
    io.stdout.write(`${VM_RUN_USAGE}\n`);
    return 0;
  }
  const { consoleLogFile, help: _help, ...opts } = parsed;
  const config = loadConfig(io.env ?? process.env);
  const tmpDir = consoleLogFile ? undefined : await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sborka-vm-run-'));
  const consoleLog = consoleLogFile ?? path.join(tmpDir!, 'console.log');

  let signal = io.signal;
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  if (!signal) {
    // qemu runs in its own process group, so a terminal's ^C reaches only us: pass it on.
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    signal = ac.signal;
  }
  try {
    const r = await runInVm({
      ...opts,
      consoleLog,
      stateDir: config.stateDir,
      signal,
      onConsoleLine: (line, stream) => (stream === 'stdout' ? io.stdout : io.stderr).write(`${line}\n`),
    });
    switch (r.status) {
      case 'exited':
        return r.exitCode ?? VM_RUN_EXIT.vmFailed;
      case 'skipped':
        // vm-run --kvm=cond: no KVM means the check is skipped, and the caller goes on.
        io.stderr.write(`vm-run: ${r.reason}\n`);
        return 0;
      case 'timeout':
        io.stderr.write(`vm-run: ${r.reason}\n`);
        return VM_RUN_EXIT.timeout;
      case 'cancelled':
        io.stderr.write(`vm-run: ${r.reason}\n`);
        return VM_RUN_EXIT.interrupted;
      default:
        io.stderr.write(`vm-run: ${r.reason}\n`);
        return VM_RUN_EXIT.vmFailed;
    }
  } catch (err) {
    io.stderr.write(`vm-run: ${(err as Error).message}\n`);
    return VM_RUN_EXIT.vmFailed;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (tmpDir) await fs.promises.rm(tmpDir, { recursive: true, force: true });
  }
}

/** The `sborka vm-run` command, in the shape cli/sborka.ts dispatches to. */
export const vmRunCommand = {
  name: 'vm-run',
  summary: 'run a command in a qemu VM of any architecture with a host directory as its root (like ALT vm-run)',
  usage: VM_RUN_USAGE,
  run: (args: string[], io: CliIo) => vmRunMain(args, io),
};
