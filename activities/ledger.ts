// The append-only ledger of step executions (storeDir/ledger.jsonl). Every attempt writes
// a `started` line before it does anything and a closing line with the same attemptId when it
// ends, so an attempt cut by a kill shows as started and never finished. It is how tests and
// `sborka status` prove what ran, when and how often. Each line goes out in one write to an
// O_APPEND file, so concurrent workers on one host do not interleave inside a line.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';

const Key = z.string().length(64);

const Attempt = z.object({
  buildId: z.string(),
  variantId: z.string(),
  stepId: z.string(),
  kind: z.string(),
  attempt: z.number().int().min(1),
  startedAt: z.string(),
  /** The worker process that ran the attempt. */
  workerPid: z.number().int(),
  /** Ties an attempt's started line to its closing line; absent on lines written before it existed. */
  attemptId: z.string().min(1).optional(),
  /** The worker's host name (pids are per host). */
  host: z.string().optional(),
});

/** The first line of an attempt, written before it looks anything up. */
export const LedgerStart = Attempt.extend({ state: z.literal('started') });
export type LedgerStart = z.infer<typeof LedgerStart>;

/** A store entry a cache hit found corrupted and moved to quarantine before the step ran again. */
export const Quarantined = z.object({ key: Key, reason: z.string(), movedTo: z.string() });
export type Quarantined = z.infer<typeof Quarantined>;

/** The closing line of an attempt: what `readLedger` returns. */
export const LedgerEntry = Attempt.extend({
  state: z.literal('finished').optional(),
  /** Store key of the outputs; absent when the step failed before it had one. */
  key: Key.optional(),
  outcome: z.enum(['succeeded', 'failed', 'cached', 'cancelled']),
  durationMs: z.number().min(0),
  /** Processes the attempt spawned; empty for a cache hit or an in-process kind. */
  pids: z.array(z.number().int()),
  error: z.string().optional(),
  quarantined: z.array(Quarantined).optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

const LedgerLine = z.union([LedgerStart, LedgerEntry]);

export function ledgerPath(storeDir: string): string {
  return path.join(storeDir, 'ledger.jsonl');
}

async function appendLine(storeDir: string, line: unknown): Promise<void> {
  await fs.mkdir(storeDir, { recursive: true });
  await fs.appendFile(ledgerPath(storeDir), `${JSON.stringify(line)}\n`, { flag: 'a' });
}

export async function appendLedger(storeDir: string, entry: LedgerEntry): Promise<void> {
  await appendLine(storeDir, LedgerEntry.parse(entry));
}

type StartFields = Omit<LedgerStart, 'state' | 'attemptId' | 'host' | 'startedAt' | 'workerPid'>;
type EndFields = Omit<LedgerEntry, keyof Attempt | 'state' | 'durationMs'>;
type Attempt = z.infer<typeof Attempt>;

export interface LedgerAttempt {
  readonly attemptId: string;
  /** Writes the closing line (once; later calls are ignored). */
  finish(end: EndFields): Promise<void>;
}

/** Writes an attempt's started line now; `finish` writes its closing line. */
export async function beginAttempt(storeDir: string, fields: StartFields): Promise<LedgerAttempt> {
  const started = Date.now();
  const common: Attempt = {
    ...fields, attemptId: randomUUID(), host: os.hostname(), workerPid: process.pid, startedAt: new Date(started).toISOString(),
  };
  await appendLine(storeDir, LedgerStart.parse({ ...common, state: 'started' }));
  let finished = false;
  return {
    attemptId: common.attemptId!,
    async finish(end) {
      if (finished) return;
      finished = true;
      await appendLedger(storeDir, { ...common, ...end, state: 'finished', durationMs: Date.now() - started });
    },
  };
}

/**
 * Every line, oldest first. A last line without its newline (a writer killed mid-write) is
 * skipped; any other bad line is an error naming its line number.
 */
export async function readLedgerLines(storeDir: string): Promise<Array<LedgerStart | LedgerEntry>> {
  let text: string;
  try {
    text = await fs.readFile(ledgerPath(storeDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  const complete = lines.slice(0, -1); // what follows the last newline is unfinished
  return complete.flatMap((line, i) => {
    if (line.trim() === '') return [];
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new Error(`${ledgerPath(storeDir)}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    // The closing schema's errors are the useful ones for a line that is no start line.
    const parsed = (json as { state?: unknown } | null)?.state === 'started' ? LedgerLine.safeParse(json) : LedgerEntry.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((p) => `${p.path.join('.') || '(line)'}: ${p.message}`).join('; ');
      throw new Error(`${ledgerPath(storeDir)}:${i + 1}: ${problems}`);
    }
    return [parsed.data];
  });
}

/** The closing line of every attempt, oldest first (what ran and how it ended). */
export async function readLedger(storeDir: string): Promise<LedgerEntry[]> {
  return (await readLedgerLines(storeDir)).filter((l): l is LedgerEntry => l.state !== 'started');
}

export interface AttemptRecord {
  attemptId: string;
  start: LedgerStart;
  /** Absent while the attempt runs, and forever when its worker was killed. */
  end?: LedgerEntry;
}

/** Attempts by their started lines, each with its closing line when there is one. */
export async function readAttempts(storeDir: string): Promise<AttemptRecord[]> {
  const byId = new Map<string, AttemptRecord>();
  for (const line of await readLedgerLines(storeDir)) {
    if (line.attemptId === undefined) continue; // older lines have no pairs
    if (line.state === 'started') byId.set(line.attemptId, { attemptId: line.attemptId, start: line });
    else {
      const record = byId.get(line.attemptId);
      if (record) record.end = line;
    }
  }
  return [...byId.values()];
}
