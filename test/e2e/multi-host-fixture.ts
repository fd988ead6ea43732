// The pieces of test/e2e/multi-host.test.ts that are not the scenario: a build host as a
// `sborka worker` process with its own directories (its log kept in a file, so a long build
// never fills the pipe and blocks the worker), and the processes of a step attempt as /proc
// shows them, so a kill's leftovers can be named before and checked after.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SborkaEnv } from '../helpers/sborka-env';

/** One worker process of a host: `sborka worker --queue <queue>` with the host's environment. */
export class HostWorker {
  private constructor(readonly name: string, readonly child: ChildProcess, readonly logFile: string) {}

  static start(sborka: SborkaEnv, name: string, queue: string, env: NodeJS.ProcessEnv, logDir: string): HostWorker {
    const child = sborka.spawn(['worker', '--queue', queue], env);
    const logFile = path.join(logDir, `${name}.${child.pid}.log`);
    const out = fs.openSync(logFile, 'a');
    const write = (d: Buffer) => fs.writeSync(out, d);
    child.stdout!.on('data', write);
    child.stderr!.on('data', write);
    child.once('close', () => fs.closeSync(out));
    return new HostWorker(name, child, logFile);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** kill -9, and waits until the process is gone. */
  async kill9(): Promise<void> {
    const gone = new Promise<void>((resolve) => (this.child.exitCode !== null || this.child.signalCode ? resolve() : this.child.once('exit', () => resolve())));
    this.child.kill('SIGKILL');
    await gone;
  }

  /** The worker's pino records (its stderr is JSON lines; anything else is skipped). */
  records(): Array<Record<string, unknown>> {
    return fs.readFileSync(this.logFile, 'utf8').split('\n').flatMap((line) => {
      try {
        const r = JSON.parse(line) as unknown;
        return r && typeof r === 'object' ? [r as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  tail(lines = 30): string {
    return `--- ${this.name} (pid ${this.child.pid}), last lines of ${this.logFile}\n${fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}`;
  }
}

export interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  /** /proc/<pid>/stat field 22: with the pid, who the process is (pids get reused). */
  start: string;
  comm: string;
  cmdline: string;
  /** The program the kernel runs: qemu-aarch64-static for an emulated binary started through binfmt_misc. */
  exe: string;
}

function read(pid: string): Proc | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let exe = '';
    try {
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      // a kernel thread, or gone meanwhile
    }
    return {
      pid: Number(pid), ppid: Number(f[1]), pgid: Number(f[2]), state: f[0]!, start: f[19]!,
      comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      cmdline: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(), exe,
    };
  } catch {
    return undefined;
  }
}

export function processes(): Proc[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((e) => read(e) ?? []);
}

/** The running processes of these process groups and everything they started, whatever group or session it took. */
export function treeOf(groups: readonly number[]): Proc[] {
  const all = processes();
  const inTree = new Set(all.filter((p) => groups.includes(p.pgid)).map((p) => p.pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (inTree.has(p.pid) || !inTree.has(p.ppid)) continue;
      inTree.add(p.pid);
      grew = true;
    }
  }
  return all.filter((p) => inTree.has(p.pid) && p.state !== 'Z');
}

/** True while the very process (same pid, same start time) still runs; a zombie has ended. */
export function alive(p: Pick<Proc, 'pid' | 'start'>): boolean {
  const now = read(String(p.pid));
  return now !== undefined && now.start === p.start && now.state !== 'Z';
}

/** Processes of any step staged under `dir` (run-step gives each one SBORKA_STAGING=<its staging>). */
export function stagedUnder(dir: string): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      return env.some((v) => v.startsWith(`SBORKA_STAGING=${dir}/`)) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Stops (SIGSTOP) every process of the groups' tree, again until no new one appears, and
 * returns them. A stopped process stays until someone kills it: it cannot end by itself
 * meanwhile, as a step's process does at its next write to the dead worker's pipe (SIGPIPE).
 */
export function freezeTree(groups: readonly number[]): Proc[] {
  const frozen = new Map<number, Proc>();
  for (;;) {
    const fresh = treeOf(groups).filter((p) => !frozen.has(p.pid));
    if (fresh.length === 0) return [...frozen.values()];
    for (const p of fresh) {
      try {
        process.kill(p.pid, 'SIGSTOP');
        frozen.set(p.pid, p);
      } catch {
        // ended meanwhile
      }
    }
  }
}

export function thaw(ps: readonly Proc[]): void {
  for (const p of ps) {
    try {
      if (alive(p)) process.kill(p.pid, 'SIGCONT');
    } catch {
      // ended meanwhile
    }
  }
}

export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export const describeProcs = (ps: readonly Proc[]) => ps.map((p) => `${p.pid} ${p.comm} [${p.exe}] ${p.cmdline.slice(0, 120)}`).join('\n');
