// An activity attempt's one heartbeat (the worker's attempt interceptor owns it; activities
// only record their progress). Each heartbeat the server hears costs it a write, and
// Temporal delivers cancellation only in a heartbeat's reply, so:
//  - nothing during the first moment: a step that ends sooner (a no-op, a cache hit) has
//    nothing to report and costs the server nothing;
//  - then new progress goes out at most once per interval, always the latest, so the
//    status view (describe()) follows a tool that prints thousands of lines a second;
//  - and a quiet attempt (a long tar, qemu waiting for its guest) repeats its latest
//    details every few seconds, so it hears of cancellation and is not taken for dead.
import { currentAttempt } from './attempt-records';

export interface HeartbeatTiming {
  /** No heartbeat before the attempt has run this long. */
  quietMs: number;
  /** At most one heartbeat of new progress per this many ms. */
  minIntervalMs: number;
  /** Repeat the latest details after this long without a heartbeat. */
  keepAliveMs: number;
}

/** 1 s, 1 s, 3 s: well inside the plans' 30 s heartbeat timeout (dsl/planner.ts). */
export const DEFAULT_HEARTBEAT: HeartbeatTiming = { quietMs: 1000, minIntervalMs: 1000, keepAliveMs: 3000 };

export interface AttemptHeartbeat {
  /** The latest progress: sent at the next allowed moment. */
  record(details: unknown): void;
  /** The attempt ended; `flush` sends what it has not sent yet (a failed attempt: its retry reads it). */
  stop(flush: boolean): void;
}

/**
 * `previous` is the previous attempt's last heartbeat: the keep-alive repeats it until
 * this attempt records progress of its own, so a retry keeps the checkpoint it started from.
 */
export function attemptHeartbeat(send: (details: unknown) => void, timing: HeartbeatTiming, previous?: unknown): AttemptHeartbeat {
  const start = Date.now();
  let latest = previous;
  let unsent = false;
  let lastSent: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dueAt = Infinity;
  let stopped = false;

  const due = () => unsent
    ? Math.max(start + timing.quietMs, (lastSent ?? -Infinity) + timing.minIntervalMs)
    : (lastSent ?? start) + timing.keepAliveMs;
  const beat = () => {
    lastSent = Date.now();
    unsent = false;
    send(latest);
  };
  const schedule = () => {
    const at = due();
    if (timer && at >= dueAt) return; // a record() between beats: the timer set already fires in time
    if (timer) clearTimeout(timer);
    dueAt = at;
    timer = setTimeout(fire, Math.max(0, at - Date.now()));
    timer.unref();
  };
  function fire(): void {
    timer = undefined;
    dueAt = Infinity;
    if (stopped) return;
    if (Date.now() >= due()) beat();
    schedule();
  }
  schedule();

  return {
    record(details) {
      if (stopped) return;
      latest = details;
      unsent = true;
      schedule();
    },
    stop(flush) {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      if (flush && unsent && Date.now() >= start + timing.quietMs) beat();
    },
  };
}

/** Records the running attempt's progress; a no-op outside an attempt (a direct call, a test). */
export function recordProgress(details: unknown): void {
  currentAttempt()?.progress(details);
}
