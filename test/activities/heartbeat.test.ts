import { Context, type Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { attemptInterceptor } from '../../activities/attempt-interceptor';
import { listRecords, recordsDir } from '../../activities/attempt-records';
import { throttledHeartbeat } from '../../activities/heartbeat';
import { runProcess, stepEnv } from '../../activities/process-runner';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger } from './helpers';

describe('throttledHeartbeat', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('sends the first update at once, then at most one per interval, always the latest', () => {
    const sent: number[] = [];
    const hb = throttledHeartbeat<number>((d) => sent.push(d), { minIntervalMs: 1000, keepAliveMs: 60_000 });
    hb.update(1);
    hb.update(2);
    hb.update(3);
    expect(sent).toEqual([1]);
    jest.advanceTimersByTime(999);
    expect(sent).toEqual([1]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([1, 3]);
    jest.advanceTimersByTime(5000);
    expect(sent).toEqual([1, 3]);
    hb.update(4);
    expect(sent).toEqual([1, 3, 4]);
    hb.stop();
  });

  it('repeats the latest details while the tool is quiet, and flushes on stop', () => {
    const sent: string[] = [];
    const hb = throttledHeartbeat<string>((d) => sent.push(d), { minIntervalMs: 1000, keepAliveMs: 3000 });
    hb.update('a');
    jest.advanceTimersByTime(6000);
    expect(sent).toEqual(['a', 'a', 'a']);
    hb.update('b');
    hb.stop();
    expect(sent).toEqual(['a', 'a', 'a', 'b']);
    hb.update('c');
    jest.advanceTimersByTime(10_000);
    expect(sent).toEqual(['a', 'a', 'a', 'b']);
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
    const inbound = attemptInterceptor({ stateDir: dir, logger: silentLogger, keepAliveMs: 3000 })(env.context).inbound!;
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

  it('repeats the latest details every few seconds while the activity is quiet, and the previous attempt\'s before its own', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { beats, execute } = setup({ attempt: 2, heartbeatDetails: { phase: 'old' } });
    await execute(async () => {
      jest.advanceTimersByTime(3500);
      expect(beats).toEqual([{ phase: 'old' }]);
      const hb = throttledHeartbeat<{ phase: string }>((d) => Context.current().heartbeat(d), { minIntervalMs: 1000, keepAliveMs: 600_000 });
      hb.update({ phase: 'running' });
      jest.advanceTimersByTime(7000);
      hb.stop();
      return undefined;
    });
    expect(beats).toEqual([{ phase: 'old' }, { phase: 'running' }, { phase: 'running' }, { phase: 'running' }]);
  });
});
