import { blockedSteps, countByState, readySteps, variantOutcome } from '../../workflows/dag';
import type { StepState } from '../../workflows/status';

// fetch → (build, docs) → image → (boot, publish-docs)
const steps = [
  { id: 'fetch', needs: [] },
  { id: 'build', needs: ['fetch'] },
  { id: 'docs', needs: ['fetch'] },
  { id: 'image', needs: ['build', 'docs'] },
  { id: 'boot', needs: ['image'] },
  { id: 'publish-docs', needs: ['docs'] },
];
const states = (o: Record<string, StepState>) => new Map(Object.entries(o));
const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id);

describe('readySteps', () => {
  it('starts with the steps that need nothing', () => {
    expect(ids(readySteps(steps, states({})))).toEqual(['fetch']);
  });

  it('releases every step whose needs are satisfied, in plan order', () => {
    expect(ids(readySteps(steps, states({ fetch: 'succeeded' })))).toEqual(['build', 'docs']);
    expect(ids(readySteps(steps, states({ fetch: 'cached', build: 'succeeded', docs: 'skipped' })))).toEqual([
      'image',
      'publish-docs',
    ]);
  });

  it('does not offer steps that already run, wait or ended', () => {
    const s = states({ fetch: 'succeeded', build: 'running', docs: 'waiting' });
    expect(ids(readySteps(steps, s))).toEqual([]);
  });

  it('holds a step while one need is unfinished or dead', () => {
    expect(ids(readySteps(steps, states({ fetch: 'succeeded', build: 'succeeded', docs: 'running' })))).toEqual([]);
    expect(ids(readySteps(steps, states({ fetch: 'succeeded', build: 'failed', docs: 'succeeded' })))).toEqual([
      'publish-docs',
    ]);
  });
});

describe('blockedSteps', () => {
  it('finds pending steps behind a failed or cancelled need, transitively', () => {
    const s = states({ fetch: 'succeeded', build: 'failed', docs: 'succeeded' });
    expect(ids(blockedSteps(steps, s))).toEqual(['image', 'boot']);
    expect(ids(blockedSteps(steps, states({ fetch: 'cancelled' })))).toEqual([
      'build', 'docs', 'image', 'boot', 'publish-docs',
    ]);
  });

  it('does not count skipped needs or steps that are merely waiting', () => {
    expect(ids(blockedSteps(steps, states({ fetch: 'skipped', build: 'waiting' })))).toEqual([]);
  });
});

describe('variantOutcome', () => {
  it('is open while something runs, waits or can start', () => {
    expect(variantOutcome(steps, states({}))).toBeUndefined();
    expect(variantOutcome(steps, states({ fetch: 'running' }))).toBeUndefined();
    const allButOneDone = states({ fetch: 'succeeded', build: 'succeeded', docs: 'succeeded', image: 'succeeded', boot: 'waiting', 'publish-docs': 'succeeded' });
    expect(variantOutcome(steps, allButOneDone)).toBeUndefined();
  });

  it('succeeds when every step succeeded, came from the cache or was skipped', () => {
    const done = states({ fetch: 'cached', build: 'succeeded', docs: 'succeeded', image: 'succeeded', boot: 'skipped', 'publish-docs': 'cached' });
    expect(variantOutcome(steps, done)).toBe('succeeded');
  });

  it('fails once nothing can move and some step is dead or blocked', () => {
    const s = states({ fetch: 'succeeded', build: 'failed', docs: 'succeeded', 'publish-docs': 'succeeded' });
    expect(variantOutcome(steps, s)).toBe('failed');
    // publish-docs could still run: not finished yet
    expect(variantOutcome(steps, states({ fetch: 'succeeded', build: 'failed', docs: 'succeeded' }))).toBeUndefined();
  });
});

it('countByState counts every step once, pending included', () => {
  expect(countByState(steps, states({ fetch: 'succeeded', build: 'running' }))).toEqual({ succeeded: 1, running: 1, pending: 4 });
});
