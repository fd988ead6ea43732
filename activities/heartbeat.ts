// Heartbeats at a bounded rate. Tools may print thousands of lines a second; Temporal needs
// only the latest progress, and a quiet tool (a long tar) still has to heartbeat so that the
// worker hears about cancellation and the server does not time the step out. What it sends
// is noted for the attempt's own keep-alive (attempt-interceptor.ts), which repeats it.
import { noteHeartbeat } from './attempt-records';

export interface Heartbeater<T> {
  /** Records the latest details; they are sent now or at the next allowed moment. */
  update(details: T): void;
  /** Sends pending details at once (the end of a step) and stops all timers. */
  stop(): void;
}

export interface HeartbeatOptions {
  /** At most one heartbeat per this many ms. */
  minIntervalMs?: number;
  /** Re-send the latest details after this long without any heartbeat. */
  keepAliveMs?: number;
  now?: () => number;
}

export function throttledHeartbeat<T>(send: (details: T) => void, options: HeartbeatOptions = {}): Heartbeater<T> {
  const minIntervalMs = options.minIntervalMs ?? 1000;
  const keepAliveMs = options.keepAliveMs ?? 5000;
  const now = options.now ?? Date.now;
  let latest: { details: T } | undefined;
  let pending = false;
  let lastSent = -Infinity;
  let trailing: NodeJS.Timeout | undefined;
  let stopped = false;

  const flush = () => {
    trailing = undefined;
    if (!latest || stopped) return;
    pending = false;
    lastSent = now();
    send(latest.details);
    noteHeartbeat(latest.details);
  };
  const keepAlive = setInterval(() => {
    if (latest && now() - lastSent >= keepAliveMs) flush();
  }, keepAliveMs);
  keepAlive.unref();

  return {
    update(details) {
      if (stopped) return;
      latest = { details };
      pending = true;
      const wait = lastSent + minIntervalMs - now();
      if (wait <= 0) {
        if (trailing) clearTimeout(trailing);
        flush();
      } else if (!trailing) {
        trailing = setTimeout(flush, wait);
        trailing.unref();
      }
    },
    stop() {
      if (trailing) clearTimeout(trailing);
      clearInterval(keepAlive);
      if (pending) flush();
      stopped = true;
    },
  };
}
