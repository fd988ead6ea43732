import * as fs from 'node:fs';
import { appendLedger, ledgerPath, readLedger, type LedgerEntry } from '../../activities/ledger';
import { makeTmpDir, removeDir } from './helpers';

let dir: string;
beforeEach(() => (dir = makeTmpDir()));
afterEach(() => removeDir(dir));

const entry = (over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  buildId: 'b1', variantId: 'v', stepId: 's', kind: 'exec', key: 'f'.repeat(64), attempt: 1, outcome: 'succeeded',
  startedAt: '2025-01-01T00:00:00.000Z', durationMs: 12, pids: [123], workerPid: 1, ...over,
});

describe('ledger', () => {
  it('is empty before anything ran', async () => {
    await expect(readLedger(dir)).resolves.toEqual([]);
  });

  it('reads back what was appended, in order', async () => {
    await appendLedger(dir, entry());
    await appendLedger(dir, entry({ outcome: 'cached', pids: [], attempt: 2 }));
    await appendLedger(dir, entry({ outcome: 'failed', key: undefined, error: 'boom' }));
    const read = await readLedger(dir);
    expect(read.map((e) => e.outcome)).toEqual(['succeeded', 'cached', 'failed']);
    expect(read[2]).toEqual(entry({ outcome: 'failed', key: undefined, error: 'boom' }));
  });

  it('refuses to write an invalid entry', async () => {
    await expect(appendLedger(dir, entry({ attempt: 0 }))).rejects.toThrow();
  });

  it('skips an unfinished last line but names a bad line anywhere else', async () => {
    await appendLedger(dir, entry());
    fs.appendFileSync(ledgerPath(dir), '{"buildId":"b1","varia');
    await expect(readLedger(dir)).resolves.toHaveLength(1);
    fs.appendFileSync(ledgerPath(dir), '\n');
    await appendLedger(dir, entry());
    await expect(readLedger(dir)).rejects.toThrow(/ledger\.jsonl:2: not JSON/);
  });

  it('names the field of a line that does not match the schema', async () => {
    fs.writeFileSync(ledgerPath(dir), `${JSON.stringify({ ...entry(), outcome: 'exploded' })}\n`);
    await expect(readLedger(dir)).rejects.toThrow(/ledger\.jsonl:1: outcome/);
  });
});
