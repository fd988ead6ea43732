// The Temporal failures activities throw. The type names are the contract with the
// workflow (see NON_RETRYABLE_ERRORS): it stops at once on those, retries the rest.
import { ApplicationFailure } from '@temporalio/common';
import type { NON_RETRYABLE_ERRORS } from '../plan/step-contract';

export type NonRetryableType = (typeof NON_RETRYABLE_ERRORS)[number];

/** Retrying cannot help: the step's input, params or program are wrong. */
export function badInput(message: string, details?: unknown): ApplicationFailure {
  return nonRetryable('BadInput', message, details);
}

/** No executor for this kind on this toolchain (yet, or ever). */
export function unsupportedStep(kind: string, toolchain: string): ApplicationFailure {
  return nonRetryable('UnsupportedStep', `step kind "${kind}" is not implemented for toolchain "${toolchain}"`);
}

/** A failure that a retry may cure (a flaky mirror, a full disk freed later, a crash). */
export function stepFailed(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'StepFailed', message, nonRetryable: false, details: details === undefined ? [] : [details] });
}

function nonRetryable(type: NonRetryableType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? [] : [details] });
}
