// Streams a step's local log to the remote store while the attempt runs (log-store.ts): every
// few seconds what the file gained goes up as chunks of at most 1 MiB and the manifest is
// pushed again; at the end the rest goes up with the manifest marked complete. The local
// file stays as it is. A retry keeps the earlier attempts' chunks (they may come from another
// host) and adds its own; on the host that wrote them it goes on from where the last push
// stopped (the manifest says which file and offset), so a worker killed between two pushes
// loses no lines. The interval grows with the chunk count, which keeps a day-long log's
// manifest far below a registry's size limit. Shipping never fails a step: a registry that
// is down costs the remote copy, not the build.
import { openSync, closeSync, fstatSync, readSync, statSync } from 'node:fs';
import * as os from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { logStoreFor, LogStoreError, MAX_INLINE_LOG, MAX_LOG_CHUNK, type LogChunk, type LogId, type LogStore } from './log-store';

export interface ShipOptions {
  logger: Logger;
  /** Between pushes while the step runs (grows by this much every 500 chunks). */
  intervalMs?: number;
  chunkBytes?: number;
  /** How long finish() waits for the registry before giving up on the remote copy. */
  finishTimeoutMs?: number;
}

interface Source {
  host: string;
  path: string;
  ino: number;
  offset: number;
}

export class LogShipper {
  private chunks: LogChunk[] = [];
  private from = 0;
  private ino: number | undefined;
  /** Started by the first push, so a shipper waiting its turn (finishInBackground) costs nothing. */
  private ready: Promise<boolean> | undefined;
  private readonly before: { size: number; ino: number } | undefined;
  private work: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private finishing: Promise<void> | undefined;

  constructor(private readonly store: Promise<LogStore>, readonly id: LogId, readonly logPath: string, private readonly o: ShipOptions) {
    // Taken now, before this attempt writes a line: what is there already is earlier attempts'.
    this.before = statOrUndefined(logPath);
    this.schedule();
  }

  private async init(before: { size: number; ino: number } | undefined): Promise<boolean> {
    const store = await this.store;
    const previous = await store.stat(this.id).catch((err: unknown) => {
      // Not a log of ours under the tag: overwritten by this one.
      if (err instanceof LogStoreError) return undefined;
      throw err;
    });
    if (!previous) {
      this.from = 0;
      return true;
    }
    // An earlier attempt's small log was inline: it becomes the first chunk.
    this.chunks = previous.inline && previous.inline.length > 0 ? [await store.pushChunk(this.id, previous.inline)] : [...previous.chunks];
    const src = parseSource(previous.source);
    const same = src && before && src.host === os.hostname() && src.path === this.logPath && src.ino === before.ino && src.offset <= before.size;
    this.from = same ? src.offset : (before?.size ?? 0);
    return true;
  }

  private delay(): number {
    const base = this.o.intervalMs ?? 2000;
    return base * (1 + Math.floor(this.chunks.length / 500));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.enqueue(false).finally(() => this.schedule()), this.delay());
    this.timer.unref();
  }

  private enqueue(final: boolean): Promise<void> {
    this.work = this.work.then(() => this.flush(final)).catch((err: Error) => {
      this.o.logger.warn({ err: err.message, log: this.id }, 'remote log: a push failed; the next one sends the rest');
    });
    return this.work;
  }

  private async flush(final: boolean): Promise<void> {
    this.ready ??= this.init(this.before).catch((err: Error) => {
      this.o.logger.warn({ err: err.message, log: this.id }, 'remote log: cannot reach the store; this attempt\'s log stays local');
      return false;
    });
    if (!(await this.ready)) return;
    const store = await this.store;
    if (final && this.chunks.length === 0) {
      const whole = this.readNext(MAX_INLINE_LOG + 1);
      if (!whole || whole.length <= MAX_INLINE_LOG) {
        if (whole) this.from += whole.length;
        await store.putManifest(this.id, [], true, JSON.stringify(this.sourceNow()), whole);
        return;
      }
    }
    const chunkBytes = Math.min(this.o.chunkBytes ?? 1 << 20, MAX_LOG_CHUNK);
    let pushed = false;
    for (;;) {
      const piece = this.readNext(chunkBytes);
      if (!piece) break;
      const chunk = await store.pushChunk(this.id, piece);
      this.chunks.push(chunk);
      this.from += piece.length;
      pushed = true;
    }
    if (!pushed && !final) return;
    await store.putManifest(this.id, this.chunks, final, JSON.stringify(this.sourceNow()));
  }

  private sourceNow(): Source {
    return { host: os.hostname(), path: this.logPath, ino: this.ino ?? 0, offset: this.from };
  }

  /** The next bytes of the local log after what was shipped, or undefined when there are none. */
  private readNext(max: number): Buffer | undefined {
    let fd: number;
    try {
      fd = openSync(this.logPath, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (this.ino !== undefined && st.ino !== this.ino) this.from = 0; // replaced: a new file from its start
      this.ino = st.ino;
      if (st.size <= this.from) return undefined;
      const buf = Buffer.alloc(Math.min(max, st.size - this.from));
      const n = readSync(fd, buf, 0, buf.length, this.from);
      return n > 0 ? buf.subarray(0, n) : undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Ships the rest and marks the log complete; resolves (never rejects) when done or timed out. */
  finish(): Promise<void> {
    this.finishing ??= (async () => {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
      let timeout: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timeout = setTimeout(() => {
          this.o.logger.warn({ log: this.id }, 'remote log: the store did not take the end of the log in time; it stays local');
          resolve();
        }, this.o.finishTimeoutMs ?? 30_000);
        timeout.unref();
      });
      await Promise.race([this.enqueue(true), limit]);
      clearTimeout(timeout);
    })();
    return this.finishing;
  }
}

const pending = new Set<Promise<void>>();
/** One background log at a time: a warm rebuild's fifty hits must not crowd the build itself. */
let queue: Promise<void> = Promise.resolve();

/** Starts shipping a step's log when a remote store is configured; undefined otherwise. */
export function shipLog(config: Config, id: LogId, logPath: string, options: ShipOptions): LogShipper | undefined {
  const store = logStoreFor(config);
  return store ? new LogShipper(store, id, logPath, options) : undefined;
}

/** finish() off the caller's path (a cache hit's one line must not cost it a registry round trip). */
export function finishInBackground(shipper: LogShipper | undefined): void {
  if (!shipper) return;
  const p = (queue = queue.then(() => shipper.finish())).finally(() => pending.delete(p));
  pending.add(p);
}

/** Waits for the logs finished in the background (tests, shutdown). */
export async function logsShipped(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending]);
}

function parseSource(text: string | undefined): Source | undefined {
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as Partial<Source>;
    return typeof s.host === 'string' && typeof s.path === 'string' && Number.isSafeInteger(s.ino) && Number.isSafeInteger(s.offset) && s.offset! >= 0 ? (s as Source) : undefined;
  } catch {
    return undefined;
  }
}

function statOrUndefined(file: string): { size: number; ino: number } | undefined {
  try {
    const st = statSync(file);
    return { size: st.size, ino: st.ino };
  } catch {
    return undefined;
  }
}
