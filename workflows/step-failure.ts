// What a BuildVariant learns from a failed runStep activity: the error it shows, whether
// retrying can help, the step's log and its last heartbeat. Workflow code: deterministic.
import { ActivityFailure, ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/workflow';
import type { NON_RETRYABLE_ERRORS, StepProgress } from '../plan/step-contract';
import type { StepError } from './status';

// The contract's list, repeated because workflow code may import activities' types only;
// the annotation makes tsc fail if the two ever differ.
export const NON_RETRYABLE: typeof NON_RETRYABLE_ERRORS = ['BadInput', 'PolicyViolation', 'UnsupportedStep'];

export interface Failure {
  error: StepError;
  logPath?: string;
  heartbeat?: StepProgress;
}

/**
 * What the workflow can learn from a failed activity. Activities may put
 * `{ logPath, progress }` into an ApplicationFailure's first detail; a heartbeat
 * timeout carries the last heartbeat itself.
 */
export function describeFailure(err: unknown): Failure {
  if (!(err instanceof ActivityFailure)) {
    return { error: { message: err instanceof Error ? err.message : String(err), nonRetryable: false } };
  }
  const cause = err.cause;
  const exhaustedByRule = err.retryState === 'NON_RETRYABLE_FAILURE';
  if (cause instanceof ApplicationFailure) {
    const type = cause.type ?? undefined;
    const detail = asRecord(cause.details?.[0]);
    return {
      error: {
        message: cause.message,
        type,
        nonRetryable: cause.nonRetryable || exhaustedByRule || (NON_RETRYABLE as readonly string[]).includes(type ?? ''),
      },
      logPath: typeof detail?.logPath === 'string' ? detail.logPath : undefined,
      heartbeat: asProgress(detail?.progress),
    };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      error: { message: `timed out (${cause.timeoutType})`, type: 'Timeout', nonRetryable: false },
      heartbeat: asProgress(Array.isArray(cause.lastHeartbeatDetails) ? cause.lastHeartbeatDetails[0] : cause.lastHeartbeatDetails),
    };
  }
  if (cause instanceof CancelledFailure) {
    return { error: { message: cause.message, type: 'Cancelled', nonRetryable: true } };
  }
  return { error: { message: cause?.message ?? err.message, nonRetryable: exhaustedByRule } };
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function asProgress(v: unknown): StepProgress | undefined {
  const r = asRecord(v);
  return r && typeof r.phase === 'string' ? (r as StepProgress) : undefined;
}
