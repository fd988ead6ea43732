import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { attemptInterceptor } from '../../activities/attempt-interceptor';
import { listRecords, recordsDir } from '../../activities/attempt-records';
import { attemptHeartbeat, recordProgress } from '../../activities/heartbeat';
import { runProcess, stepEnv } from '../../activities/process-runner';
import { createActivities } from '../../activities';
import type { StepProgress } from '../../plan/step-contract';
import { runInAttemptEnv } from './attempt-env';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

const TIMING = { quietMs: 1000, minIntervalMs: 1000, keepAliveMs: 3000 };

describe('attemptHeartbeat', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  function beating(previous?: unknown) {
    const sent: unknown[] = [];
    return { sent, hb: attemptHeartbeat((d) => sent.push(d), TIMING, previous) };
  }

  it('sends nothing for an attempt that ends within its quiet moment, failed or not', () => {
    for (const flush of [false, true]) {
      const { sent, hb } = beating();
      hb.record('a');
      jest.advanceTimersByTime(999);
      hb.stop(flush);
      jest.advanceTimersByTime(60_000);
      expect(sent).toEqual([]);
    }
  });

  it('after the quiet moment sends the latest progress, then at most one per interval, always the latest', () => {
    const { sent, hb } = beating();
    hb.record(1);
    hb.record(2);
    jest.advanceTimersByTime(999);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([2]);
    hb.record(3);
    hb.record(4);
    jest.advanceTimersByTime(999);
    expect(sent).toEqual([2]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([2, 4]);
    hb.stop(false);
  });

  it('holds a flood of progress to one heartbeat a second', () => {
    const { sent, hb } = beating();
    for (let i = 0; i < 10_000; i++) {
      hb.record(i);
      jest.advanceTimersByTime(1);
    }
    hb.stop(false);
    expect(sent.length).toBeLessThanOrEqual(10);
    expect(sent[sent.length - 1]).toBeGreaterThan(9000);
  });

  it('repeats the latest details while the attempt is quiet, the previous attempt\'s until it has its own', () => {
    const { sent, hb } = beating({ phase: 'old' });
    jest.advanceTimersByTime(6000);
    expect(sent).toEqual([{ phase: 'old' }, { phase: 'old' }]);
    hb.record({ phase: 'running' });
    jest.advanceTimersByTime(1000);
    expect(sent).toEqual([{ phase: 'old' }, { phase: 'old' }, { phase: 'running' }]);
    jest.advanceTimersByTime(6000);
    expect(sent).toEqual([{ phase: 'old' }, { phase: 'old' }, { phase: 'running' }, { phase: 'running' }, { phase: 'running' }]);
    hb.stop(false);
  });

  it('a failed attempt sends its unsent progress at the end (its retry reads it); a finished one does not; nothing after', () => {
    const failed = beating();
    jest.advanceTimersByTime(1500);
    failed.hb.record('last line');
    failed.hb.stop(true);
    expect(failed.sent).toEqual(['last line']);
    failed.hb.record('later');
    jest.advanceTimersByTime(60_000);
    expect(failed.sent).toEqual(['last line']);

    const done = beating();
    jest.advanceTimersByTime(1500);
    done.hb.record('last line');
    done.hb.stop(false);
    jest.advanceTimersByTime(60_000);
    expect(done.sent).toEqual([]);
  });

  it('recordProgress outside an attempt (no interceptor) does nothing', () => {
    expect(() => recordProgress({ phase: 'running' })).not.toThrow();
  });
});

describe('attemptInterceptor', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTmpDir('sborka-attempt-');
  });
  afterEach(() => {
    jest.useRealTimers();
    removeDir(dir);
  });

  function setup(info: Partial<Info> = {}) {
    const env = new MockActivityEnvironment({ activityId: 'step#1', taskToken: Buffer.from('the-token'), ...info }, { logger: quietSdkLogger });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const inbound = attemptInterceptor({ stateDir: dir, logger: silentLogger, heartbeat: TIMING })(env.context).inbound!;
    const execute = (next: () => Promise<unknown>) => env.run(() => inbound.execute!({ args: [], headers: {} }, next));
    return { beats, execute };
  }

  it('keeps a record with the task token and the spawned process groups while the attempt runs, and removes it after', async () => {
    const { execute } = setup();
    let during: ReturnType<typeof listRecords> = [];
    let spawned = 0;
    await execute(async () => {
      const outcome = await runProcess({
        argv: ['true'], env: stepEnv(dir), logPath: `${dir}/log`, attempt: 1, logger: silentLogger,
        onSpawn: (pid) => {
          spawned = pid;
          during = listRecords(recordsDir(dir));
        },
      });
      return outcome.exitCode;
    });
    expect(during).toHaveLength(1);
    const { record } = during[0]!;
    expect(Buffer.from(record.taskToken, 'base64').toString()).toBe('the-token');
    expect(record.activityId).toBe('step#1');
    expect(record.worker.pid).toBe(process.pid);
    expect(record.groups.map((g) => g.pid)).toEqual([spawned]);
    expect(listRecords(recordsDir(dir))).toEqual([]);
  });

  it('removes the record when the attempt fails too', async () => {
    const { execute } = setup();
    await expect(execute(async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(listRecords(recordsDir(dir))).toEqual([]);
  });

  it('sends nothing for an attempt that ends at once', async () => {
    const { beats, execute } = setup();
    await execute(async () => 'done');
    expect(beats).toEqual([]);
  });

  it('repeats the previous attempt\'s details while the activity is quiet, then sends the progress it records', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { beats, execute } = setup({ attempt: 2, heartbeatDetails: { phase: 'old' } });
    await execute(async () => {
      jest.advanceTimersByTime(3500);
      expect(beats).toEqual([{ phase: 'old' }]);
      recordProgress({ phase: 'running' });
      jest.advanceTimersByTime(7000);
      return undefined;
    });
    expect(beats).toEqual([{ phase: 'old' }, { phase: 'running' }, { phase: 'running' }, { phase: 'running' }]);
  });
});

describe('runStep heartbeats', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => removeDir(dir));

  async function beatsOf(step: Parameters<typeof stepInput>[0], timing: Partial<typeof TIMING>, onBeat: (d: StepProgress) => void = () => undefined): Promise<StepProgress[]> {
    const env = new MockActivityEnvironment({}, { logger: quietSdkLogger });
    const beats: StepProgress[] = [];
    env.on('heartbeat', (d: StepProgress) => {
      beats.push(d);
      onBeat(d);
    });
    const { runStep } = createActivities({ config: testConfig(dir), logger: silentLogger });
    await runInAttemptEnv(env, dir, () => runStep(stepInput(step)), timing);
    return beats;
  }

  it('a step that ends within its quiet moment sends none (each costs the server a write)', async () => {
    expect(await beatsOf({ id: 'n', kind: 'noop', params: {}, cacheable: false }, TIMING)).toEqual([]);
  });

  it('a step that runs longer reports its phase, pid and last line through the attempt\'s heartbeat', async () => {
    // The tool waits until its progress has been heard, then ends.
    const heard = path.join(dir, 'heard');
    const argv = ['sh', '-c', 'echo SBORKA_PROGRESS=0.5; echo half; while [ ! -e "$1" ]; do sleep 0.05; done', 'sh', heard];
    const beats = await beatsOf({ id: 'p', kind: 'exec', cacheable: false, params: { argv } }, { quietMs: 200, minIntervalMs: 100 }, (d) => {
      if (d.lastLine === 'half') fs.writeFileSync(heard, '');
    });
    expect(beats.find((b) => b.lastLine === 'half')).toMatchObject({ phase: 'running', pid: expect.any(Number), fraction: 0.5 });
  });
});
