// Per-step log files: where they live and how their tail is read back for error messages.
// Logs stay on disk; only their paths travel through Temporal.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** A path segment from an id that may hold '/', '..' or other characters unfit for a file name. */
export function safeSegment(id: string): string {
  const cleaned = id.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  return cleaned.length > 0 ? cleaned.slice(0, 200) : '_';
}

/** logDir/<buildId>/<variantId>/<stepId>.log, each id made safe as one path segment. */
export function stepLogPath(logDir: string, buildId: string, variantId: string, stepId: string): string {
  return path.join(logDir, safeSegment(buildId), safeSegment(variantId), `${safeSegment(stepId)}.log`);
}

/** Appends whole lines (a trailing newline is added) and creates the folder if needed. */
export async function appendLogLines(logPath: string, lines: readonly string[]): Promise<void> {
  await fs.mkdir(path.dirname(logPath), { recursive: true });
  await fs.appendFile(logPath, lines.map((l) => `${l}\n`).join(''));
}

/**
 * The last `maxLines` lines of a log, reading only its end (a log may be gigabytes).
 * A missing log gives no lines.
 */
export async function readLogTail(logPath: string, maxLines: number, maxBytes = 64 * 1024): Promise<string[]> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(logPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    await handle.read(buf, 0, buf.length, start);
    let lines = buf.toString('utf8').split('\n');
    if (start > 0) lines = lines.slice(1); // the first one is cut
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-maxLines);
  } finally {
    await handle.close();
  }
}
