import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  failureFor, processIsRunning, runChecked, runProcess, type RunProcessOptions,
} from '../../activities/process-runner';
import { readLogTail } from '../../activities/step-log';
import { capturingLogger, makeTmpDir, removeDir, silentLogger } from './helpers';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
let dir: string;
let logPath: string;
beforeEach(() => {
  dir = makeTmpDir();
  logPath = path.join(dir, 'logs', 'step.log');
});
afterEach(() => removeDir(dir));

const opts = (argv: string[], extra: Partial<RunProcessOptions> = {}): RunProcessOptions => ({
  argv, env, logPath, attempt: 1, logger: silentLogger, ...extra,
});

describe('runProcess', () => {
  it('streams stdout and stderr line by line to the log and to pino at debug level', async () => {
    const { logger, records } = capturingLogger();
    const lines: string[] = [];
    const outcome = await runProcess(opts(['sh', '-c', 'echo hello; echo oops >&2; printf "no newline"'], {
      logger, onLine: (l) => lines.push(l),
    }));
    expect(outcome).toMatchObject({ exitCode: 0, signal: null, cancelled: false });
    expect(outcome.pid).toEqual(expect.any(Number));
    expect(lines.sort()).toEqual(['hello', 'no newline', 'oops']);
    const log = fs.readFileSync(logPath, 'utf8').split('\n');
    expect(log[0]).toMatch(/^--- sborka: attempt 1 at .*: \["sh","-c","echo hello;/);
    expect(log).toEqual(expect.arrayContaining(['hello', 'oops', 'no newline']));
    expect(log.some((l) => /^--- sborka: exit code 0 after \d+ ms$/.test(l))).toBe(true);
    const debug = records.filter((r) => r.level === 20).map((r) => r.msg);
    expect(debug).toEqual(expect.arrayContaining(['hello', 'oops']));
  });

  it('appends each attempt to the same log with its own header', async () => {
    await runProcess(opts(['echo', 'first']));
    await runProcess(opts(['echo', 'second'], { attempt: 2 }));
    const log = fs.readFileSync(logPath, 'utf8');
    expect(log).toMatch(/attempt 1 .*\nfirst\n.*attempt 2 .*\nsecond\n/s);
  });

  it.each([0, 1, 42])('propagates exit code %i', async (code) => {
    const outcome = await runProcess(opts(['sh', '-c', `exit ${code}`]));
    expect(outcome.exitCode).toBe(code);
  });

  it('reports a program that cannot start', async () => {
    const outcome = await runProcess(opts(['/nonexistent/sborka-tool']));
    expect(outcome.spawnError).toBe('ENOENT');
    const failure = await failureFor(outcome, logPath, []);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect(failure?.message).toContain('/nonexistent/sborka-tool');
  });

  it('kills background processes the program left behind when it exits', async () => {
    const lines: string[] = [];
    const outcome = await runProcess(opts(['sh', '-c', 'sleep 300 & echo $!; exit 0'], { onLine: (l) => lines.push(l) }));
    expect(outcome.exitCode).toBe(0);
    const leftover = Number(lines[0]);
    expect(leftover).toBeGreaterThan(0);
    expect(processIsRunning(leftover)).toBe(false);
    expect(fs.readFileSync(logPath, 'utf8')).toContain('left processes behind');
  });
});

describe('cancellation', () => {
  it('kills the whole process group, grandchildren included, and waits until they are gone', async () => {
    const controller = new AbortController();
    const pids: number[] = [];
    let shPid = 0;
    const run = runProcess(opts(['sh', '-c', 'sleep 300 & echo $!; sleep 300 & echo $!; wait'], {
      signal: controller.signal,
      onSpawn: (pid) => (shPid = pid),
      onLine: (line) => {
        pids.push(Number(line));
        if (pids.length === 2) controller.abort(new CancelledFailure('test cancel'));
      },
    }));
    const outcome = await run;
    expect(outcome.cancelled).toBe(true);
    expect(pids).toHaveLength(2);
    for (const pid of [shPid, ...pids]) expect(processIsRunning(pid)).toBe(false);
    const failure = await failureFor(outcome, logPath, [], controller.signal);
    expect(failure).toBeInstanceOf(CancelledFailure);
    expect(fs.readFileSync(logPath, 'utf8')).toContain('cancelled, process group killed');
  });

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const controller = new AbortController();
    const pids: number[] = [];
    const outcome = await runProcess(opts(['sh', '-c', 'trap "" TERM; sleep 300 & echo $!; wait'], {
      signal: controller.signal,
      killGraceMs: 100,
      onLine: (line) => {
        pids.push(Number(line));
        controller.abort();
      },
    }));
    expect(outcome.cancelled).toBe(true);
    expect(outcome.signal).toBe('SIGKILL');
    expect(processIsRunning(pids[0]!)).toBe(false);
  });

  it('does not start a program when already cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const outcome = await runProcess(opts(['sh', '-c', 'echo should-not-run'], { signal: controller.signal }));
    expect(outcome).toMatchObject({ cancelled: true, pid: undefined });
    expect(fs.readFileSync(logPath, 'utf8')).not.toContain('should-not-run\n');
  });
});

describe('failure mapping', () => {
  it('makes a listed exit code a non-retryable BadInput with the log tail', async () => {
    const err = await runChecked({ ...opts(['sh', '-c', 'echo "no such package: foo" >&2; exit 42']), nonRetryableExitCodes: [42] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect((err as Error).message).toContain('exited with code 42');
    expect((err as Error).message).toContain('no such package: foo');
    expect((err as Error).message).toContain(logPath);
  });

  it('makes other non-zero exits a retryable StepFailed with the log tail', async () => {
    const err = await runChecked({ ...opts(['sh', '-c', 'echo mirror timed out; exit 1']), nonRetryableExitCodes: [42] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'StepFailed', nonRetryable: false });
    expect((err as Error).message).toContain('mirror timed out');
  });

  it('treats a kill by a signal as retryable', async () => {
    const err = await runChecked(opts(['sh', '-c', 'kill -9 $$'])).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'StepFailed', nonRetryable: false });
    expect((err as Error).message).toContain('killed by SIGKILL');
  });

  it('returns the outcome on success', async () => {
    await expect(runChecked(opts(['true']))).resolves.toMatchObject({ exitCode: 0 });
  });
});

describe('readLogTail', () => {
  it('returns the last lines only and nothing for a missing log', async () => {
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fs.writeFileSync(logPath, Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n');
    await expect(readLogTail(logPath, 3)).resolves.toEqual(['line 97', 'line 98', 'line 99']);
    await expect(readLogTail(logPath, 2, 20)).resolves.toEqual(['line 98', 'line 99']);
    await expect(readLogTail(path.join(dir, 'missing.log'), 3)).resolves.toEqual([]);
  });
});
