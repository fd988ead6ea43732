// Where a step's log is read from, for the API and `sborka logs`: this host's log directory,
// or the remote store (log-store.ts) when it holds the log and this disk does not, or holds
// more of it (later attempts ran elsewhere). The local file is found from the ids alone,
// under the log directory, never from a path a status names, and only if it resolves
// (links and all) to a regular file inside that directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config';
import { logStoreFor, type LogId } from './log-store';
import { stepLogPath } from './step-log';

export interface LogSource {
  where: 'disk' | 'store';
  size: number;
  /** Bytes [start, end), checked against their digests when they come from the store. */
  read(start: number, end: number): Promise<Buffer>;
}

/** The step's log file under logDir, resolved, or undefined when there is none (or it leaves logDir). */
export function localLogFile(logDir: string, id: Omit<LogId, 'tenant'>): string | undefined {
  try {
    const root = fs.realpathSync(logDir);
    const real = fs.realpathSync(stepLogPath(logDir, id.buildId, id.variantId, id.stepId));
    return real.startsWith(root + path.sep) && fs.statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

function diskSource(file: string): LogSource | undefined {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return undefined;
  }
  return {
    where: 'disk',
    size,
    read: async (start, end) => {
      const handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const buf = Buffer.alloc(Math.max(0, end - start));
        const { bytesRead } = await handle.read(buf, 0, buf.length, start);
        return buf.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
  };
}

/**
 * The step's log, or undefined when neither this disk nor the store has one (yet).
 * `tenant` is asked only when the store is consulted. A store that fails is an error only
 * when the disk has nothing either.
 */
export async function openStepLog(config: Config, id: Omit<LogId, 'tenant'>, tenant: () => Promise<string | undefined>, extraDirs: readonly string[] = []): Promise<LogSource | undefined> {
  let local: LogSource | undefined;
  for (const dir of [config.logDir, ...extraDirs]) {
    const file = localLogFile(dir, id);
    local = file ? diskSource(file) : undefined;
    if (local) break;
  }
  const store = logStoreFor(config);
  if (!store) return local;
  let full: LogId;
  let remote;
  try {
    const t = await tenant();
    full = { ...id, ...(t === undefined ? {} : { tenant: t }) };
    remote = await (await store).stat(full);
  } catch (err) {
    if (local) return local;
    throw err;
  }
  if (!remote || (local && local.size > remote.size)) return local;
  const found = remote;
  return { where: 'store', size: found.size, read: async (start, end) => (await store).read(full, found, start, Math.min(end, found.size)) };
}
