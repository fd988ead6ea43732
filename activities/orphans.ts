// A worker killed with SIGKILL leaves its step's process group running (it was detached on
// purpose, to be killable as a whole) and its staging directory behind. Every process a step
// spawns carries SBORKA_STAGING=<its staging dir> in its environment, so whoever comes next
// on the host can find and kill exactly those processes, never an unrelated one that reused
// a pid, and then drop the directory.
import * as fs from 'node:fs';
import { killProcessGroup, processIsRunning } from './process-runner';
import type { StepStore } from './store';

export const STAGING_ENV = 'SBORKA_STAGING';

/** Pids whose environment holds name=value exactly (as far as /proc lets us read). */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = `${name}=${value}`;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle);
    } catch {
      return false; // gone meanwhile, or not ours to read
    }
  });
}

/** Kills the leftovers of dead writers on this host and removes their staging; returns how many directories went. */
export async function reapAbandonedStaging(store: StepStore, graceMs = 5000): Promise<number> {
  return store.cleanTmp(processIsRunning, async (dir) => {
    const groups = new Set<number>();
    for (const pid of processesWithEnv(STAGING_ENV, dir)) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        groups.add(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]));
      } catch {
        // exited meanwhile
      }
    }
    await Promise.all([...groups].map((pgid) => killProcessGroup(pgid, graceMs)));
  });
}
