import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { transformFileSync } from '@swc/core';
import { appendLedger, beginAttempt, ledgerPath, readAttempts, readLedger, readLedgerLines, type LedgerEntry } from '../../activities/ledger';
import { makeTmpDir, removeDir } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

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

describe('attempts in the ledger', () => {
  const fields = { buildId: 'b1', variantId: 'v', stepId: 's', kind: 'exec', attempt: 1 };

  it('writes a started line first and a finished line with the same attempt id at the end', async () => {
    const attempt = await beginAttempt(dir, fields);
    const started = await readLedgerLines(dir);
    expect(started).toEqual([expect.objectContaining({ state: 'started', attemptId: attempt.attemptId, workerPid: process.pid, attempt: 1 })]);
    await expect(readLedger(dir)).resolves.toEqual([]);
    await attempt.finish({ outcome: 'succeeded', key: 'f'.repeat(64), pids: [7] });
    await attempt.finish({ outcome: 'failed', pids: [] }); // once only
    const lines = await readLedgerLines(dir);
    expect(lines.map((l) => [l.state, l.attemptId])).toEqual([['started', attempt.attemptId], ['finished', attempt.attemptId]]);
    expect(await readLedger(dir)).toEqual([expect.objectContaining({ outcome: 'succeeded', attemptId: attempt.attemptId, startedAt: started[0]!.startedAt })]);
    expect(await readAttempts(dir)).toEqual([expect.objectContaining({ attemptId: attempt.attemptId, end: expect.objectContaining({ outcome: 'succeeded' }) })]);
  });

  it('shows an attempt whose worker was killed with SIGKILL as started and never finished', async () => {
    // The real ledger module in a process of its own, killed after it wrote the started line.
    const compiled = path.join(dir, 'ledger.js');
    fs.writeFileSync(compiled, transformFileSync(path.join(ROOT, 'activities', 'ledger.ts'), {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' },
    }).code);
    const script = `require(${JSON.stringify(compiled)}).beginAttempt(${JSON.stringify(dir)}, ${JSON.stringify({ ...fields, attempt: 2 })})
      .then(() => { process.stdout.write('started\\n'); setInterval(() => {}, 1000); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the attempt's process exited with ${code} before it started`)));
    });
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGKILL');
    await expect(exited).resolves.toBe('SIGKILL');

    const finished = await beginAttempt(dir, fields);
    await finished.finish({ outcome: 'succeeded', pids: [] });
    const attempts = await readAttempts(dir);
    expect(attempts.map((a) => [a.start.attempt, a.start.workerPid, a.end?.outcome])).toEqual([[2, child.pid, undefined], [1, process.pid, 'succeeded']]);
    // Readers of finished attempts see only the one that finished.
    expect((await readLedger(dir)).map((e) => e.attempt)).toEqual([1]);
  });
});
