// Falling back to emulation (a plan variant's `emulation`): while no step has missed its
// native worker, activities go to the variant's own queue and may wait there only
// `afterMs`; the first one no native worker takes in time switches the variant, for good,
// to the emulated queue. Workflow code: deterministic, no I/O.
import { ActivityFailure, TimeoutFailure } from '@temporalio/workflow';
import type { Emulation } from '../plan/plan';
import { formatDuration } from './format';
import type { Emulated } from './status';

/** Marks runs that may switch queues; only variants with `emulation` reach it. */
export const EMULATION_PATCH = 'variant-emulation-fallback';

/** Did the activity fail because no worker took it from its queue in time? */
export function notStartedInTime(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

/** The task queue a variant's activities go to, and whether it has fallen back to emulation. */
export class StepQueue {
  private switched: Emulated | undefined;

  /** `emulation` only when the run may use it (the patch is in). */
  constructor(private readonly native: string, private readonly emulation: Emulation | undefined) {}

  get current(): string {
    return this.switched && this.emulation ? this.emulation.taskQueue : this.native;
  }

  /** How long an activity scheduled now may wait for a worker: limited only while the fallback is still ahead. */
  get startWithinMs(): number | undefined {
    return this.switched ? undefined : this.emulation?.afterMs;
  }

  get emulated(): Emulated | undefined {
    return this.switched;
  }

  /** Switches to the emulated queue because no native worker took `what`; false when it had switched already. */
  fallBack(what: string, at: string): boolean {
    if (this.switched || !this.emulation) return false;
    this.switched = { since: at, reason: `no native worker took ${what} on ${this.native} within ${formatDuration(this.emulation.afterMs)}` };
    return true;
  }

  /** The status line of a switched variant. */
  warning(): string | undefined {
    return this.switched && `runs under emulation on ${this.current} since ${this.switched.since}: ${this.switched.reason}`;
  }
}
