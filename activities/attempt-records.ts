// One small file per running activity attempt on this host (<stateDir>/running/), written
// when the attempt starts and removed when it ends. A worker killed with SIGKILL leaves its
// files behind: they name the dead worker (pid and start time, so a reused pid is not taken
// for it), the attempt's task token (so the next worker can fail it at once instead of
// waiting for the heartbeat timeout) and the process groups it spawned (so the next worker
// can end them, each checked by its start time against pid reuse).
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';

/** Who a process is on this host: a pid alone can be reused, pid + start time + boot cannot. */
export const ProcessIdentity = z.object({
  pid: z.number().int().positive(),
  /** /proc/<pid>/stat field 22 (clock ticks since boot), as text. */
  start: z.string().min(1),
});
export type ProcessIdentity = z.infer<typeof ProcessIdentity>;

export const AttemptRecord = z.object({
  host: z.string().min(1),
  /** /proc/sys/kernel/random/boot_id: after a reboot nothing of the record's still runs. */
  bootId: z.string(),
  /** The pid namespace the pids belong to; a worker in another one cannot judge them. */
  pidNs: z.string(),
  worker: ProcessIdentity,
  /** Base64 of the attempt's Temporal task token. */
  taskToken: z.string().min(1),
  workflowId: z.string(),
  activityId: z.string(),
  activityType: z.string(),
  attempt: z.number().int().min(1),
  startedAt: z.string(),
  /** Process groups the attempt spawned (the group leader's identity; pgid = its pid). */
  groups: z.array(ProcessIdentity),
});
export type AttemptRecord = z.infer<typeof AttemptRecord>;

export function recordsDir(stateDir: string): string {
  return path.join(stateDir, 'running');
}

/** /proc/<pid>/stat's state and start time, or undefined when the process is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ..." where comm may hold spaces and parentheses; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/** The process's start time, or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.start;
}

function readOr(file: string, fallback: string, read: (f: string) => string): string {
  try {
    return read(file).trim();
  } catch {
    return fallback;
  }
}

export function bootId(): string {
  return readOr('/proc/sys/kernel/random/boot_id', '', (f) => fs.readFileSync(f, 'utf8'));
}

export function pidNamespace(): string {
  return readOr('/proc/self/ns/pid', '', (f) => fs.readlinkSync(f));
}

/** This process as a record names it. */
export function selfIdentity(): ProcessIdentity {
  return { pid: process.pid, start: processStartTime(process.pid) ?? 'unknown' };
}

/** What the attempt running in this async context keeps (see currentAttempt). */
export interface AttemptScope {
  /** Adds a spawned process group to the record (a no-op once the attempt ended). */
  addGroup(pgid: number): void;
  /** The attempt's latest progress, for its heartbeat (heartbeat.ts). */
  progress(details: unknown): void;
}

const scope = new AsyncLocalStorage<AttemptScope>();

export function runInAttempt<T>(attempt: AttemptScope, fn: () => Promise<T>): Promise<T> {
  return scope.run(attempt, fn);
}

/** The attempt this code runs for, if it runs inside an activity of a worker with records. */
export function currentAttempt(): AttemptScope | undefined {
  return scope.getStore();
}

/** Called by the process runner for every child: a no-op outside an attempt. */
export function noteChildGroup(pgid: number): void {
  currentAttempt()?.addGroup(pgid);
}

export interface OpenRecord {
  readonly file: string;
  addGroup(pgid: number): void;
  /** Removes the record; the attempt ended on this worker, however it ended. */
  close(): void;
}

const made = new Set<string>();
let here: Pick<AttemptRecord, 'bootId' | 'pidNs' | 'worker'> | undefined;

type RecordFields = Pick<AttemptRecord, 'taskToken' | 'workflowId' | 'activityId' | 'activityType' | 'attempt'>;

/**
 * Writes the record now (synchronously: it exists before the attempt spawns anything).
 * Written to a temporary name and renamed, so a reader never sees half a record.
 */
export function openRecord(dir: string, fields: RecordFields): OpenRecord {
  // This process's boot, pid namespace and identity hold for its whole life: read once, not per attempt.
  here ??= { bootId: bootId(), pidNs: pidNamespace(), worker: selfIdentity() };
  const record: AttemptRecord = AttemptRecord.parse({
    ...fields, host: os.hostname(), ...here, startedAt: new Date().toISOString(), groups: [],
  });
  if (!made.has(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    made.add(dir);
  }
  const file = path.join(dir, `${record.host}~${process.pid}~${randomUUID()}.json`);
  let open = true;
  const write = () => {
    const tmp = `${file}.tmp`;
    try {
      fs.writeFileSync(tmp, `${JSON.stringify(record)}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(dir, { recursive: true }); // removed under a running worker
      fs.writeFileSync(tmp, `${JSON.stringify(record)}\n`);
    }
    fs.renameSync(tmp, file);
  };
  write();
  return {
    file,
    addGroup(pgid) {
      if (!open) return;
      const start = processStartTime(pgid);
      if (start === undefined) return; // already gone: nothing to leave behind
      record.groups.push({ pid: pgid, start });
      write();
    },
    close() {
      open = false;
      fs.rmSync(file, { force: true });
    },
  };
}

/** Every record in the directory that parses, with its file; torn or foreign files are skipped. */
export function listRecords(dir: string): Array<{ file: string; record: AttemptRecord }> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).flatMap((n) => {
    const file = path.join(dir, n);
    try {
      const parsed = AttemptRecord.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
      return parsed.success ? [{ file, record: parsed.data }] : [];
    } catch {
      return [];
    }
  });
}

/** True while the process the identity names still runs (same pid and start time, not a zombie). */
export function identityAlive(id: ProcessIdentity): boolean {
  const stat = procStat(id.pid);
  return stat !== undefined && stat.start === id.start && stat.state !== 'Z';
}
