// Runs one program for a step: argv array (no shell ever), its own process group, stdin
// closed, every output line to the step's log file and to pino, and on cancellation the
// whole group is killed and waited for. A step's processes never outlive the step.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { CancelledFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { noteChildGroup } from './attempt-records';
import { badInput, stepFailed } from './failures';
import { readLogTail } from './step-log';

export interface RunProcessOptions {
  argv: readonly string[];
  /** The child's whole environment: nothing of the worker's leaks in unless passed here. */
  env: Record<string, string>;
  cwd?: string;
  logPath: string;
  attempt: number;
  logger: Logger;
  signal?: AbortSignal;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  onSpawn?: (pid: number) => void;
  /** Between SIGTERM and SIGKILL. */
  killGraceMs?: number;
}

export interface ProcessOutcome {
  argv: readonly string[];
  pid: number | undefined;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The AbortSignal fired and the group was killed because of it. */
  cancelled: boolean;
  /** errno code when the program could not be started (ENOENT, EACCES). */
  spawnError?: string;
  durationMs: number;
}

const MAX_LINE = 64 * 1024;

/**
 * The small, fixed environment a step's programs get (HOME and TMPDIR its work directory):
 * nothing of the worker's (credentials, locale) leaks in.
 */
export function stepEnv(workDir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: workDir,
    TMPDIR: workDir,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
  };
}

/** Runs the program to its end (or cancellation) and reports how it ended; never throws for the child's failure. */
export async function runProcess(options: RunProcessOptions): Promise<ProcessOutcome> {
  const { argv, logPath, signal } = options;
  const [program, ...args] = argv;
  if (program === undefined) throw badInput('cannot run an empty argv');
  const graceMs = options.killGraceMs ?? 10_000;
  const started = Date.now();
  await fs.promises.mkdir(path.dirname(logPath), { recursive: true });
  const log = fs.createWriteStream(logPath, { flags: 'a' });
  const logClosed = new Promise<void>((resolve, reject) => {
    log.once('close', resolve);
    log.once('error', reject);
  });
  log.write(`--- sborka: attempt ${options.attempt} at ${new Date(started).toISOString()}: ${JSON.stringify(argv)}\n`);
  const outcome: ProcessOutcome = { argv, pid: undefined, exitCode: null, signal: null, cancelled: false, durationMs: 0 };

  const finish = async (footer: string): Promise<ProcessOutcome> => {
    outcome.durationMs = Date.now() - started;
    log.end(`--- sborka: ${footer} after ${outcome.durationMs} ms\n`);
    await logClosed;
    return outcome;
  };

  if (signal?.aborted) {
    outcome.cancelled = true;
    return finish('cancelled before start');
  }

  const child = spawn(program, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true, // a new process group whose id is the child's pid
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null } | { error: NodeJS.ErrnoException }>((resolve) => {
    child.once('exit', (code, sig) => resolve({ code, sig }));
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
  });
  const pid = child.pid;
  const logger = options.logger.child({ pid, program });

  const pump = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') => {
    const split = lineSplitter((line) => {
      log.write(`${line}\n`);
      logger.debug({ stream: name }, line);
      options.onLine?.(line, name);
    });
    return new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => split.push(chunk));
      stream.once('close', () => {
        split.end();
        resolve();
      });
    });
  };
  const streamsDone = Promise.all([pump(child.stdout, 'stdout'), pump(child.stderr, 'stderr')]);

  let killing: Promise<boolean> | undefined;
  const onAbort = () => {
    if (pid === undefined || outcome.cancelled) return;
    outcome.cancelled = true;
    logger.info('step cancelled: killing its process group');
    killing = killProcessGroup(pid, graceMs);
  };
  if (pid !== undefined) {
    outcome.pid = pid;
    noteChildGroup(pid); // the attempt record names the group, for whoever comes after a kill
    options.onSpawn?.(pid);
    signal?.addEventListener('abort', onAbort, { once: true });
  }

  const end = await exited;
  signal?.removeEventListener('abort', onAbort);
  if ('error' in end) {
    outcome.spawnError = end.error.code ?? end.error.message;
    child.stdout.destroy();
    child.stderr.destroy();
    log.write(`--- sborka: cannot start ${JSON.stringify(program)}: ${end.error.message}\n`);
    return finish('not started');
  }
  outcome.exitCode = end.code;
  outcome.signal = end.sig;
  if (killing) await killing;
  else if (pid !== undefined && groupIsRunning(pid)) {
    // Background children left behind would hold the pipes open and leak past the step.
    log.write('--- sborka: the program exited but left processes behind: killing them\n');
    await killProcessGroup(pid, graceMs);
  }
  // A process that escaped the group (setsid) may still hold the pipes: do not wait forever.
  const drained = await Promise.race([streamsDone.then(() => true), delay(2000).then(() => false)]);
  if (!drained) {
    child.stdout.destroy();
    child.stderr.destroy();
    await streamsDone;
  }
  const how = outcome.cancelled
    ? 'cancelled, process group killed'
    : end.sig
      ? `killed by ${end.sig}`
      : `exit code ${end.code}`;
  return finish(how);
}

/**
 * Runs the program and turns anything but success into the Temporal failure the workflow
 * expects: BadInput for listed exit codes or a program that cannot start, StepFailed (retried)
 * otherwise, CancelledFailure when the step was cancelled.
 */
export async function runChecked(options: RunProcessOptions & { nonRetryableExitCodes?: readonly number[] }): Promise<ProcessOutcome> {
  const outcome = await runProcess(options);
  const failure = await failureFor(outcome, options.logPath, options.nonRetryableExitCodes ?? [], options.signal);
  if (failure) throw failure;
  return outcome;
}

export async function failureFor(
  outcome: ProcessOutcome,
  logPath: string,
  nonRetryableExitCodes: readonly number[],
  signal?: AbortSignal,
): Promise<Error | undefined> {
  const program = JSON.stringify(outcome.argv[0]);
  if (outcome.cancelled) {
    return signal?.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure(`${program} was cancelled`);
  }
  const details = { exitCode: outcome.exitCode, signal: outcome.signal, pid: outcome.pid, logPath };
  if (outcome.spawnError) {
    return badInput(`cannot run ${program}: ${outcome.spawnError} (is it installed and on PATH?); log: ${logPath}`, details);
  }
  if (outcome.exitCode === 0) return undefined;
  const tail = (await readLogTail(logPath, 20)).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));
  const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.exitCode}`;
  const message = `${program} ${how}; last lines of ${logPath}:\n${tail.join('\n')}`;
  if (outcome.exitCode !== null && nonRetryableExitCodes.includes(outcome.exitCode)) {
    return badInput(message, details);
  }
  return stepFailed(message, details);
}

/** True while the process exists and is not a zombie (an exited child nobody reaped is not running). */
export function processIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = procState(pid);
  return state !== undefined && state.state !== 'Z';
}

/** True while any non-zombie process of the group exists. */
export function groupIsRunning(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // kill(2) also finds zombies, which init may never reap in a container: ask /proc.
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return true;
  }
  return entries.some((e) => {
    if (!/^\d+$/.test(e)) return false;
    const s = procState(Number(e));
    return s !== undefined && s.pgrp === pgid && s.state !== 'Z';
  });
}

/** SIGTERM to the whole group, SIGKILL after the grace period; resolves once no member runs (false if some never died). */
export async function killProcessGroup(pgid: number, graceMs: number): Promise<boolean> {
  signalGroup(pgid, 'SIGTERM');
  if (await waitUntil(() => !groupIsRunning(pgid), graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitUntil(() => !groupIsRunning(pgid), 30_000);
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function procState(pid: number): { state: string; pgrp: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..." where comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let pause = 5;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await delay(pause);
    pause = Math.min(pause * 2, 100);
  }
  return true;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Splits a byte stream into lines (UTF-8 safe across chunks); very long lines are cut. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const emit = (text: string) => {
    const parts = (rest + text).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
    while (rest.length > MAX_LINE) {
      onLine(rest.slice(0, MAX_LINE));
      rest = rest.slice(MAX_LINE);
    }
  };
  return {
    push: (chunk) => emit(decoder.write(chunk)),
    end: () => {
      emit(decoder.end());
      if (rest.length > 0) onLine(rest);
      rest = '';
    },
  };
}
