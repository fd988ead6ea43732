// An exclusive lock on a file between the workers of a host (and the activities inside one
// worker), for caches that several builds update in place. The kernel's flock(2) holds it,
// taken by a `flock(1)` child that keeps it while our pipe to it stays open: a worker that
// dies closes the pipe, so the lock is never left behind by a crash and needs no stale-holder
// guessing.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface FileLock {
  release(): Promise<void>;
}

/** Waits for the lock on `file` (created if absent); a fired signal stops the wait with its reason. */
export async function acquireFileLock(file: string, signal?: AbortSignal): Promise<FileLock> {
  signal?.throwIfAborted();
  await fs.mkdir(path.dirname(file), { recursive: true });
  // `cat` runs once flock holds the lock: the line it echoes back says so. EOF on its stdin ends both.
  const child = spawn('flock', ['--exclusive', file, 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined); // a child that died is reported by 'close'
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const taken = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run flock for ${file}: ${err.message}`)));
    void exited.then((code) => reject(new Error(`flock ${file} ended (exit ${code}) before taking the lock: ${stderr.trim()}`)));
  });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  child.stdin.write('locked\n');
  try {
    await Promise.race([taken, failed, aborted]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort!);
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      child.stdin.end();
      await exited;
    },
  };
}

/** Runs fn while holding the lock on `file`. */
export async function withFileLock<T>(file: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireFileLock(file, signal);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
