import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { KindRegistry } from '../../activities/kinds/registry';
import { readLedger, readLedgerLines } from '../../activities/ledger';
import { processIsRunning } from '../../activities/process-runner';
import { StepStore } from '../../activities/store';
import type { StepInput, StepProgress, StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { runInAttemptEnv } from './attempt-env';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig, waitFor } from './helpers';

let dir: string;
let config: Config;
let counter: string;
beforeEach(() => {
  dir = makeTmpDir();
  config = testConfig(dir);
  counter = path.join(dir, 'runs');
});
afterEach(() => removeDir(dir));

const mockEnv = (info: Partial<Info> = {}) => new MockActivityEnvironment(info, { logger: quietSdkLogger });

/** Heartbeats at once and often, so a short step reports its progress. */
const FAST_BEATS = { quietMs: 0, minIntervalMs: 10, keepAliveMs: 50 };

/** runStep as a worker runs it: inside the attempt interceptor, which sends its heartbeats. */
function run(input: StepInput, info: Partial<Info> = {}, env = mockEnv(info)): Promise<StepResult> {
  const { runStep } = createActivities({ config, logger: silentLogger });
  return runInAttemptEnv(env, dir, () => runStep(input), FAST_BEATS);
}

/** An exec step that counts its runs in a file outside the store and writes one output. */
const countingStep = (id: string, output = 'hello', cacheable = true) => ({
  id, kind: 'exec' as const, cacheable,
  params: { argv: ['sh', '-c', `echo run >> '${counter}'; printf '${output}' > "$SBORKA_OUTPUT_DIR/out.txt"`] },
});
const runs = () => (fs.existsSync(counter) ? fs.readFileSync(counter, 'utf8').split('\n').filter(Boolean).length : 0);

describe('runStep', () => {
  it('runs a step once, then answers from the store without spawning anything', async () => {
    const first = await run(stepInput(countingStep('greet'), { buildId: 'b1' }));
    expect(first.cached).toBe(false);
    expect(first.outputs.files.map((f) => f.path)).toEqual(['out.txt']);
    expect(fs.readFileSync(path.join(first.outputDir, 'out.txt'), 'utf8')).toBe('hello');

    const second = await run(stepInput(countingStep('greet'), { buildId: 'b2' }));
    expect(second).toMatchObject({ cached: true, key: first.key, outputDir: first.outputDir, outputs: first.outputs });
    expect(runs()).toBe(1);

    const ledger = await readLedger(config.storeDir);
    expect(ledger.map((e) => [e.buildId, e.outcome, e.key])).toEqual([['b1', 'succeeded', first.key], ['b2', 'cached', first.key]]);
    expect(ledger[0]!.pids).toHaveLength(1);
    expect(ledger[1]!.pids).toEqual([]);
    expect(fs.readFileSync(second.logPath, 'utf8')).toContain(`cached, store key ${first.key}`);
  });

  it('writes each attempt\'s ledger line as it starts and another with the same id as it ends', async () => {
    await run(stepInput(countingStep('greet')));
    await run(stepInput(countingStep('greet')));
    await run(stepInput({ id: 'bad', kind: 'exec', params: { argv: ['sh', '-c', 'exit 1'] } }), { attempt: 3 }).catch(() => undefined);
    const lines = await readLedgerLines(config.storeDir);
    expect(lines.map((l) => [l.stepId, l.state, 'outcome' in l ? l.outcome : undefined])).toEqual([
      ['greet', 'started', undefined], ['greet', 'finished', 'succeeded'],
      ['greet', 'started', undefined], ['greet', 'finished', 'cached'],
      ['bad', 'started', undefined], ['bad', 'finished', 'failed'],
    ]);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]!.attemptId).toEqual(expect.any(String));
      expect(lines[i + 1]!.attemptId).toBe(lines[i]!.attemptId);
    }
    expect(new Set(lines.map((l) => l.attemptId)).size).toBe(3);
    expect(lines[4]).toMatchObject({ attempt: 3, workerPid: process.pid, host: expect.any(String) });
  });

  it('keys on kind, params, inputs and toolchain: a changed param reruns', async () => {
    const a = await run(stepInput(countingStep('greet', 'one')));
    const b = await run(stepInput(countingStep('greet', 'two')));
    expect(b.key).not.toBe(a.key);
    expect(b.cached).toBe(false);
    expect(runs()).toBe(2);
  });

  it('always runs a non-cacheable step and keys it by its outputs, so later steps still hit', async () => {
    const a = await run(stepInput(countingStep('resolve', 'same', false), { buildId: 'b1' }));
    const b = await run(stepInput(countingStep('resolve', 'same', false), { buildId: 'b2' }));
    expect(runs()).toBe(2);
    expect(b.cached).toBe(false);
    expect(b.key).toBe(a.key);
    const sums = { id: 'sums', kind: 'checksum' as const, params: {}, needs: ['resolve'] };
    const s1 = await run(stepInput(sums, { buildId: 'b1', inputs: { resolve: a.key } }));
    const s2 = await run(stepInput(sums, { buildId: 'b2', inputs: { resolve: b.key } }));
    expect(s1.cached).toBe(false);
    expect(s2.cached).toBe(true);
  });

  it('refuses a malformed input as non-retryable BadInput naming the field', async () => {
    const input = { ...stepInput(countingStep('greet')), buildId: '' };
    const err = await run(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect((err as Error).message).toContain('buildId');
  });

  it('refuses a step whose needed input is missing or not in the store', async () => {
    const needs = { id: 'sums', kind: 'checksum' as const, params: {}, needs: ['a'] };
    await expect(run(stepInput(needs))).rejects.toMatchObject({ type: 'BadInput', message: expect.stringContaining('a') });
    const err = await run(stepInput(needs, { inputs: { a: 'e'.repeat(64) } })).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect((err as Error).message).toContain('is not in the store');
  });

  it('fails non-retryably as UnsupportedStep when no executor serves the kind on the toolchain', async () => {
    const { runStep } = createActivities({ config, logger: silentLogger, registry: new KindRegistry() });
    const err = await mockEnv().run(runStep, stepInput({ id: 'n', kind: 'noop', params: {} })).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'UnsupportedStep', nonRetryable: true });
    expect((err as Error).message).toBe('step kind "noop" is not implemented for toolchain "core"');
    expect((await readLedger(config.storeDir)).map((e) => e.outcome)).toEqual(['failed']);
  });

  it('maps listed exit codes to BadInput and others to retryable StepFailed, keeping the log', async () => {
    const failing = (code: number) => stepInput({
      id: 'build', kind: 'exec',
      params: { argv: ['sh', '-c', `echo "output before failure $0"; echo written > "$SBORKA_OUTPUT_DIR/partial"; exit ${code}`, String(code)], nonRetryableExitCodes: [3] },
    });
    const bad = await run(failing(3)).catch((e: unknown) => e);
    expect(bad).toMatchObject({ type: 'BadInput', nonRetryable: true });
    const flaky = await run(failing(1)).catch((e: unknown) => e);
    expect(flaky).toMatchObject({ type: 'StepFailed', nonRetryable: false });
    expect((flaky as Error).message).toContain('output before failure 1');

    const logPath = path.join(config.logDir, 'build-1', 'demo-x86_64', 'build.log');
    const log = fs.readFileSync(logPath, 'utf8');
    expect(log).toContain('output before failure 3');
    expect(log).toContain('output before failure 1');
    expect(log).toMatch(/attempt 1 failed: "sh" exited with code 1/);
    // Nothing half-made reaches the store, and staging is cleaned.
    expect(await new StepStore(config.storeDir).list()).toEqual([]);
    expect(fs.readdirSync(path.join(config.storeDir, 'tmp'))).toEqual([]);
    const ledger = await readLedger(config.storeDir);
    expect(ledger.map((e) => e.outcome)).toEqual(['failed', 'failed']);
    expect(ledger[0]!.error).toContain('exited with code 3');
  });

  it('heartbeats progress with the pid and the last line', async () => {
    const env = mockEnv();
    const beats: StepProgress[] = [];
    // A successful attempt sends no unsent progress at its end: the step waits until a beat
    // with its last line was heard, so the test does not depend on how fast the machine is.
    const gate = path.join(dir, 'progress-heard');
    env.on('heartbeat', (d: StepProgress) => {
      beats.push(d);
      if (d.lastLine === 'done') fs.writeFileSync(gate, '');
    });
    const script = `echo SBORKA_PROGRESS=0.5; echo done; while [ ! -e '${gate}' ]; do sleep 0.05; done`;
    await run(stepInput({ id: 'p', kind: 'exec', params: { argv: ['sh', '-c', script] } }), {}, env);
    expect(beats.length).toBeGreaterThan(0);
    const last = beats[beats.length - 1]!;
    expect(last.pid).toEqual(expect.any(Number));
    expect(last.fraction).toBe(0.5);
    expect(last.lastLine).toBe('done');
  });

  it('tells in the log what the previous attempt reached when retried', async () => {
    const previous: StepProgress = { phase: 'running', lastLine: 'unpacking 41 of 90', pid: 4242 };
    await run(stepInput(countingStep('greet')), { attempt: 2, heartbeatDetails: previous });
    const logPath = path.join(config.logDir, 'build-1', 'demo-x86_64', 'greet.log');
    expect(fs.readFileSync(logPath, 'utf8')).toContain('attempt 2; the previous attempt last reported {"phase":"running","lastLine":"unpacking 41 of 90","pid":4242}');
    expect((await readLedger(config.storeDir))[0]!.attempt).toBe(2);
  });

  it('keeps build ids with slashes inside the log folder', async () => {
    const result = await run(stepInput(countingStep('greet'), { buildId: 'nightly/../../2025-06-01' }));
    expect(path.relative(config.logDir, result.logPath)).toBe(path.join('nightly_.._.._2025-06-01', 'demo-x86_64', 'greet.log'));
  });

  it('on cancellation kills the process group, records it and stores nothing', async () => {
    const env = mockEnv();
    const input = stepInput({ id: 'long', kind: 'exec', params: { argv: ['sh', '-c', 'sleep 300 & echo $!; sleep 300'] } });
    const grandchild = waitFor((l) => env.on('heartbeat', l), (d) => {
      const line = (d as StepProgress).lastLine;
      return line && /^\d+$/.test(line) ? { pid: (d as StepProgress).pid!, grandchild: Number(line) } : undefined;
    });
    const running = run(input, {}, env);
    const pids = await grandchild;
    env.cancel();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(processIsRunning(pids.pid)).toBe(false);
    expect(processIsRunning(pids.grandchild)).toBe(false);
    const ledger = await readLedger(config.storeDir);
    expect(ledger.map((e) => e.outcome)).toEqual(['cancelled']);
    expect(ledger[0]!.pids).toEqual([pids.pid]);
    expect(await new StepStore(config.storeDir).list()).toEqual([]);
  });
});

describe('after a worker was killed with SIGKILL', () => {
  it('the next step on the host kills the dead worker\'s step processes and drops its staging', async () => {
    const store = new StepStore(config.storeDir);
    const deadWorker = spawn('true');
    const deadPid = await new Promise<number>((resolve) => deadWorker.once('exit', () => resolve(deadWorker.pid!)));
    const mine = await store.createStaging();
    const abandoned = mine.dir.replace(`~${process.pid}~`, `~${deadPid}~`);
    fs.renameSync(mine.dir, abandoned);
    // What the dead worker's step left running: its own process group, marked with its staging.
    const orphan = spawn('sh', ['-c', 'sleep 300 & echo $!; wait'], {
      detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: process.env.PATH, SBORKA_STAGING: abandoned },
    });
    const grandchild = await new Promise<number>((resolve) => orphan.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()))));
    // An unrelated process of the same shape but another staging must survive.
    const bystander = spawn('sleep', ['300'], { detached: true, stdio: 'ignore', env: { SBORKA_STAGING: `${abandoned}-other` } });
    try {
      await run(stepInput({ id: 'next', kind: 'noop', params: {} }));
      expect(processIsRunning(orphan.pid!)).toBe(false);
      expect(processIsRunning(grandchild)).toBe(false);
      expect(fs.existsSync(abandoned)).toBe(false);
      expect(processIsRunning(bystander.pid!)).toBe(true);
    } finally {
      for (const group of [bystander.pid!, orphan.pid!]) {
        try {
          process.kill(-group, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
});
