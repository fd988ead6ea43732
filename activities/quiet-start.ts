// A step's heartbeats begin a moment after it starts. Each one the server hears costs it a
// write to the workflow's history, and a step that ends sooner (a no-op, a cache hit, a
// quick checksum) has nothing to report. The heartbeat timeout is far longer than the
// moment; a cancellation reaches such a step when it ends, or at its first heartbeat.

export interface QuietStart<T> {
  /** Sends now, or once the quiet moment is over (the latest details held until then). */
  send(details: T): void;
  /** The step ended: what is still held is dropped, since the result tells more. */
  stop(): void;
}

export function quietStart<T>(send: (details: T) => void, quietMs: number, now: () => number = Date.now): QuietStart<T> {
  const until = now() + quietMs;
  let held: { details: T } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const release = () => {
    timer = undefined;
    const h = held;
    held = undefined;
    if (h && !stopped) send(h.details);
  };
  return {
    send(details) {
      if (stopped) return;
      const wait = until - now();
      if (wait > 0) {
        held = { details };
        if (!timer) {
          timer = setTimeout(release, wait);
          timer.unref();
        }
        return;
      }
      if (timer) clearTimeout(timer);
      timer = undefined;
      held = undefined;
      send(details);
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      held = undefined;
    },
  };
}
