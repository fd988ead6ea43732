import { throttledHeartbeat } from '../../activities/heartbeat';

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
