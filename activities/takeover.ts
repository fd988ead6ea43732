// A worker that starts on a host where another one died takes over at once: it reads the
// dead worker's attempt records (attempt-records.ts), ends the process groups they name
// (qemu, mmdebstrap...) and fails each attempt through Temporal's async completion by task
// token, so its retry starts now rather than after the heartbeat timeout. Records of live
// workers, of other hosts and of other pid namespaces are never touched.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { bootId, identityAlive, listRecords, pidNamespace, processStartTime, recordsDir, type AttemptRecord, type ProcessIdentity } from './attempt-records';
import { stepFailed } from './failures';
import { groupIsRunning, killProcessGroup } from './process-runner';

export interface TakeoverDeps {
  stateDir: string;
  logger: Logger;
  /** Fails an attempt by its task token: the Temporal client's `activity.fail`. */
  fail: (taskToken: Uint8Array, failure: ApplicationFailure) => Promise<void>;
  /** Between SIGTERM and SIGKILL for a leftover group. */
  killGraceMs?: number;
}

export interface TakenOver {
  workflowId: string;
  activityId: string;
  attempt: number;
  deadWorkerPid: number;
  /** Leftover process groups that were still running and got ended. */
  killedGroups: number[];
  /** 'failed': the retry is scheduled now; 'closed': Temporal had already closed the attempt. */
  outcome: 'failed' | 'closed';
}

/** True when the record's worker is certainly gone; undefined when this worker cannot tell. */
function workerDead(record: AttemptRecord, here: { host: string; boot: string; ns: string }): boolean | undefined {
  if (record.host !== here.host) return undefined; // pids of another host mean nothing here
  if (record.bootId !== '' && record.bootId !== here.boot) return true; // the host rebooted since
  if (record.pidNs !== here.ns) return undefined;
  return !identityAlive(record.worker);
}

/**
 * Ends a leftover group. A pid is not reused while it names a live group, so a group whose
 * leader has exited is still the recorded one; a leader pid that now belongs to a process
 * started at another time means the group is long gone and the pid someone else's.
 */
async function endGroup(group: ProcessIdentity, graceMs: number): Promise<boolean> {
  const start = processStartTime(group.pid);
  if (start !== undefined && start !== group.start) return false;
  if (!groupIsRunning(group.pid)) return false;
  await killProcessGroup(group.pid, graceMs);
  return true;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number } | undefined;
  // ActivityNotFoundError: completed, timed out or already retried (the token names one attempt).
  return e?.name === 'ActivityNotFoundError' || e?.code === 5;
}

/** One pass over this host's records; returns what it took over. */
export async function takeOverDeadWorkers(deps: TakeoverDeps): Promise<TakenOver[]> {
  const here = { host: os.hostname(), boot: bootId(), ns: pidNamespace() };
  const graceMs = deps.killGraceMs ?? 5000;
  const dead = listRecords(recordsDir(deps.stateDir)).filter(({ record }) => workerDead(record, here) === true);
  const taken = await Promise.all(dead.map(async ({ file, record }): Promise<TakenOver | undefined> => {
    const rebooted = record.bootId !== here.boot;
    const killed: number[] = [];
    if (!rebooted) {
      for (const g of record.groups) if (await endGroup(g, graceMs)) killed.push(g.pid);
    }
    const failure = stepFailed(
      `the worker running attempt ${record.attempt} (pid ${record.worker.pid} on ${record.host}) died; worker pid ${process.pid} took over and failed the attempt so that it is retried now`,
      { takenOverBy: process.pid, deadWorkerPid: record.worker.pid, killedGroups: killed },
    );
    let outcome: TakenOver['outcome'];
    try {
      await deps.fail(Buffer.from(record.taskToken, 'base64'), failure);
      outcome = 'failed';
    } catch (err) {
      if (!isNotFound(err)) {
        // The record stays: the next pass tries again (the groups are gone by then).
        deps.logger.warn({ err: (err as Error).message, workflowId: record.workflowId, activityId: record.activityId }, 'cannot fail a dead worker\'s attempt');
        return undefined;
      }
      outcome = 'closed';
    }
    fs.rmSync(file, { force: true });
    const result: TakenOver = {
      workflowId: record.workflowId, activityId: record.activityId, attempt: record.attempt, deadWorkerPid: record.worker.pid, killedGroups: killed, outcome,
    };
    deps.logger.info(result, 'took over the attempt of a dead worker');
    return result;
  }));
  return taken.filter((t): t is TakenOver => t !== undefined);
}

export interface TakeoverWatch {
  /** The pass made at start. */
  first: Promise<TakenOver[]>;
  stop(): void;
}

/**
 * A pass now and one every `intervalMs`: a worker that keeps running on the host also takes
 * over from a sibling that died beside it. Passes never overlap.
 */
export function watchDeadWorkers(deps: TakeoverDeps, intervalMs = 10_000): TakeoverWatch {
  let running: Promise<unknown> | undefined;
  const pass = () => {
    const p = takeOverDeadWorkers(deps).catch((err: unknown) => {
      deps.logger.warn({ err: (err as Error).message }, 'takeover pass failed');
      return [] as TakenOver[];
    });
    running = p.finally(() => (running = undefined));
    return p;
  };
  const first = pass();
  const timer = setInterval(() => {
    if (!running) void pass();
  }, intervalMs);
  timer.unref();
  return { first, stop: () => clearInterval(timer) };
}
