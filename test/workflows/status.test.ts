import { VariantStatus, withPendingActivities } from '../../workflows/status';

const status = VariantStatus.parse({
  buildId: 'b1', variantId: 'v', product: 'demo', arch: 'x86_64', taskQueue: 'build-x86_64', state: 'running',
  startedAt: '2026-01-01T00:00:00.000Z', waiting: [], warnings: [],
  steps: [
    { id: 'image', kind: 'exec', state: 'running', attempt: 2, activityId: 'image#2', skippable: false },
    { id: 'sums', kind: 'checksum', state: 'pending', attempt: 0, skippable: false },
    { id: 'old', kind: 'exec', state: 'succeeded', attempt: 1, activityId: 'old#1', skippable: false, heartbeat: { phase: 'done' } },
  ],
});

describe('withPendingActivities', () => {
  it('adds the live heartbeat and Temporal attempt to the running step with that activity id', () => {
    const merged = withPendingActivities(status, [
      { activityId: 'image#2', attempt: 3, heartbeatDetails: [{ phase: 'running', fraction: 0.5, pid: 42 }] },
      { activityId: 'image#1', attempt: 9, heartbeatDetails: [{ phase: 'stale' }] },
    ]);
    expect(merged.steps[0]).toMatchObject({ activityAttempt: 3, heartbeat: { phase: 'running', fraction: 0.5, pid: 42 } });
    expect(merged.steps.slice(1)).toEqual(status.steps.slice(1));
    expect(VariantStatus.parse(merged)).toEqual(merged);
  });

  it('keeps what it had when the details are not a StepProgress', () => {
    const merged = withPendingActivities(status, [{ activityId: 'image#2', attempt: 1, heartbeatDetails: 'garbage' }]);
    expect(merged.steps[0]).toMatchObject({ activityAttempt: 1 });
    expect(merged.steps[0]?.heartbeat).toBeUndefined();
  });

  it('leaves finished steps alone even if an activity id matches', () => {
    const merged = withPendingActivities(status, [{ activityId: 'old#1', attempt: 5, heartbeatDetails: [{ phase: 'x' }] }]);
    expect(merged.steps[2]).toEqual(status.steps[2]);
  });
});
