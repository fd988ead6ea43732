import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { quietStart } from '../../activities/quiet-start';
import type { StepProgress } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from './helpers';

describe('quietStart', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    jest.useFakeTimers();
    clock = 1000;
  });
  afterEach(() => jest.useRealTimers());

  const advance = (ms: number) => {
    clock += ms;
    jest.advanceTimersByTime(ms);
  };

  it('holds what is sent during the quiet moment and sends only the latest once it is over', () => {
    const sent: number[] = [];
    const q = quietStart<number>((d) => sent.push(d), 500, now);
    q.send(1);
    advance(100);
    q.send(2);
    expect(sent).toEqual([]);
    advance(399);
    expect(sent).toEqual([]);
    advance(1);
    expect(sent).toEqual([2]);
    advance(10_000);
    expect(sent).toEqual([2]);
  });

  it('sends at once after the quiet moment', () => {
    const sent: number[] = [];
    const q = quietStart<number>((d) => sent.push(d), 500, now);
    advance(600);
    q.send(7);
    q.send(8);
    expect(sent).toEqual([7, 8]);
  });

  it('sends nothing for a step that ended during the quiet moment, nor after it', () => {
    const sent: number[] = [];
    const q = quietStart<number>((d) => sent.push(d), 500, now);
    q.send(1);
    advance(200);
    q.stop();
    advance(10_000);
    q.send(2);
    expect(sent).toEqual([]);
  });

  it('with no quiet moment is a plain pass-through', () => {
    const sent: number[] = [];
    const q = quietStart<number>((d) => sent.push(d), 0, now);
    q.send(1);
    expect(sent).toEqual([1]);
  });
});

describe('runStep heartbeats', () => {
  let dir: string;
  let config: Config;
  beforeEach(() => {
    dir = makeTmpDir();
    config = testConfig(dir);
  });
  afterEach(() => removeDir(dir));

  async function beatsOf(firstHeartbeatMs: number): Promise<StepProgress[]> {
    const env = new MockActivityEnvironment({}, { logger: quietSdkLogger });
    const beats: StepProgress[] = [];
    env.on('heartbeat', (d: StepProgress) => beats.push(d));
    const { runStep } = createActivities({ config, logger: silentLogger, heartbeatIntervalMs: 10, firstHeartbeatMs });
    await env.run(runStep, stepInput({ id: 'n', kind: 'noop', params: {}, cacheable: false }));
    return beats;
  }

  it('a step that ends within its quiet moment sends none (each costs the server a history write)', async () => {
    expect(await beatsOf(600_000)).toEqual([]);
  });

  it('the same step without a quiet moment reports its phase', async () => {
    expect((await beatsOf(0)).map((b) => b.phase)).toContain('running');
  });
});
