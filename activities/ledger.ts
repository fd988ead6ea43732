// The append-only ledger of step executions (storeDir/ledger.jsonl): one JSON line per
// attempt, hit or cancellation. It is how tests and `sborka status` prove what ran, when
// and how often. Each line goes out in one write to an O_APPEND file, so concurrent
// workers on one host do not interleave inside a line.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';

export const LedgerEntry = z.object({
  buildId: z.string(),
  variantId: z.string(),
  stepId: z.string(),
  kind: z.string(),
  /** Store key of the outputs; absent when the step failed before it had one. */
  key: z.string().length(64).optional(),
  attempt: z.number().int().min(1),
  outcome: z.enum(['succeeded', 'failed', 'cached', 'cancelled']),
  startedAt: z.string(),
  durationMs: z.number().min(0),
  /** Processes the attempt spawned; empty for a cache hit or an in-process kind. */
  pids: z.array(z.number().int()),
  /** The worker process that ran the attempt. */
  workerPid: z.number().int(),
  error: z.string().optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

export function ledgerPath(storeDir: string): string {
  return path.join(storeDir, 'ledger.jsonl');
}

export async function appendLedger(storeDir: string, entry: LedgerEntry): Promise<void> {
  const line = `${JSON.stringify(LedgerEntry.parse(entry))}\n`;
  await fs.mkdir(storeDir, { recursive: true });
  await fs.appendFile(ledgerPath(storeDir), line, { flag: 'a' });
}

/**
 * Every entry, oldest first. A last line without its newline (a writer killed mid-write) is
 * skipped; any other bad line is an error naming its line number.
 */
export async function readLedger(storeDir: string): Promise<LedgerEntry[]> {
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
    const parsed = LedgerEntry.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((p) => `${p.path.join('.') || '(line)'}: ${p.message}`).join('; ');
      throw new Error(`${ledgerPath(storeDir)}:${i + 1}: ${problems}`);
    }
    return [parsed.data];
  });
}
