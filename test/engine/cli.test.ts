// The `sborka` command as a person uses it, against a real embedded Temporal server:
// build, rebuild from the store, operator retry/abort, bad plans, schedules.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLedger } from '../../activities';
import { eventually, PROJECT_ROOT, SborkaEnv, writePlan, x86Plan } from '../helpers/sborka-env';

jest.setTimeout(300_000);

let sborka: SborkaEnv;
let dir: string;

beforeAll(async () => {
  sborka = await SborkaEnv.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-cli-'));
});
afterAll(async () => {
  await sborka?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const DEMO = path.join(PROJECT_ROOT, 'products', 'demo', 'self-archive.plan.json');

test('build runs a plan end to end with its own worker and prints its artifacts', async () => {
  const out = await sborka.run(['build', DEMO]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  expect(out.stdout).toMatch(/^build sborka-sources-\S+: succeeded$/m);
  const sums = /report\s+sha256sums: (\S+)/.exec(out.stdout)![1]!;
  const engine = /file\s+engine: (\S+)/.exec(out.stdout)![1]!;
  // The artifacts are real: sha256sum agrees with the SHA256SUMS the build wrote.
  const listed = fs.readFileSync(sums, 'utf8');
  const actual = execFileSync('sha256sum', [engine], { encoding: 'utf8' }).split(' ')[0]!;
  expect(listed).toContain(`${actual}  engine/sborka-engine.tar.gz`);
  execFileSync('tar', ['--list', '--gzip', '--file', engine]);
});

test('rebuilding a finished build takes every step from the store and spawns nothing', async () => {
  // Sources of the test's own: the project tree may change while tests run.
  const src = path.join(dir, 'rebuild-src');
  fs.mkdirSync(path.join(src, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(src, 'docs', 'readme.txt'), 'rebuild me\n');
  const plan = writePlan(dir, 'rebuild.json', x86Plan('rebuild', [
    { id: 'docs', kind: 'archive', params: { sourceDir: src, include: ['docs'], name: 'docs.tar.gz' } },
    { id: 'sums', kind: 'checksum', needs: ['docs'], params: {} },
  ]));
  const first = await sborka.run(['build', plan]);
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/steps: 2 \(0 from the store\)/);
  const again = await sborka.run(['build', plan]);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/steps: 2 \(2 from the store\)/);
  const buildId = /^build (\S+): succeeded$/m.exec(again.stdout)![1]!;
  const ledger = (await readLedger(sborka.config.storeDir)).filter((e) => e.buildId === buildId);
  expect(ledger.map((e) => e.outcome)).toEqual(['cached', 'cached']);
  expect(ledger.flatMap((e) => e.pids ?? [])).toEqual([]);
});

/** A step that fails until `needed` exists: a broken input the operator can fix. */
function fragilePlan(product: string, needed: string) {
  const script = `const fs = require('fs');
    if (!fs.existsSync(${JSON.stringify(needed)})) { console.error('input ${needed} is missing'); process.exit(1); }
    fs.copyFileSync(${JSON.stringify(needed)}, require('path').join(process.env.SBORKA_OUTPUT_DIR, 'copy.txt'));`;
  return x86Plan(product, [
    { id: 'copy', kind: 'exec', params: { argv: [process.execPath, '-e', script] }, retry: { maximumAttempts: 2, initialIntervalMs: 100 } },
    { id: 'sums', kind: 'checksum', needs: ['copy'], params: {} },
  ]);
}

async function startWaitingBuild(product: string, needed: string): Promise<string> {
  const out = await sborka.run(['build', writePlan(dir, `${product}.json`, fragilePlan(product, needed)), '--no-worker']);
  expect(out.code).toBe(0);
  const buildId = /^started (\S+)/m.exec(out.stdout)![1]!;
  await eventually('the variant to wait for an operator', async () => {
    const status = await sborka.run(['status', buildId]);
    return /waiting for an operator on copy/.test(status.stdout) ? true : undefined;
  });
  return buildId;
}

test('a failed step waits for the operator; after the input is fixed, `sborka retry` finishes the build', async () => {
  const worker = sborka.spawn(['worker']);
  const needed = path.join(dir, 'fixed-later.txt');
  const buildId = await startWaitingBuild('operator-retry', needed);

  fs.writeFileSync(needed, 'fixed\n');
  const retry = await sborka.run(['retry', buildId, '--reason', 'input restored']);
  expect(retry.stderr).toBe('');
  expect(retry.stdout).toMatch(/operator-retry-x86_64: retry copy/);
  const client = await sborka.client();
  const result = (await client.workflow.getHandle(buildId).result()) as { state: string };
  expect(result.state).toBe('succeeded');
  worker.kill('SIGTERM');
});

test('`sborka abort` ends the waiting build with the failure; the step log is kept', async () => {
  const worker = sborka.spawn(['worker']);
  const buildId = await startWaitingBuild('operator-abort', path.join(dir, 'never.txt'));

  const abort = await sborka.run(['abort', buildId]);
  expect(abort.code).toBe(0);
  const client = await sborka.client();
  const result = (await client.workflow.getHandle(buildId).result()) as { state: string; variants: Array<{ state: string; error?: string }> };
  expect(result.state).toBe('failed');
  expect(result.variants[0]!.state).toBe('failed');
  expect(result.variants[0]!.error).toMatch(/never\.txt is missing/);
  const logs = await sborka.run(['logs', buildId, '--step', 'copy']);
  expect(logs.stdout).toMatch(/never\.txt is missing/);
  worker.kill('SIGTERM');
});

test('`sborka skip` is refused for a step the plan does not mark skippable', async () => {
  const worker = sborka.spawn(['worker']);
  const buildId = await startWaitingBuild('operator-skip', path.join(dir, 'absent.txt'));
  const skip = await sborka.run(['skip', buildId]);
  expect(skip.code).not.toBe(0);
  expect(skip.stderr).toMatch(/skippable|not.*skip/i);
  expect((await sborka.run(['abort', buildId])).code).toBe(0);
  worker.kill('SIGTERM');
});

test('bad plans are refused before anything runs, naming the field', async () => {
  const bad = writePlan(dir, 'bad.json', {
    version: 1,
    product: 'bad',
    toolchain: { name: 'core', version: '1' },
    variants: [{ id: 'v', product: 'bad', arch: 'x86_64', taskQueue: 'build-x86_64', steps: [{ id: 'a', kind: 'compile', params: {} }] }],
  });
  const out = await sborka.run(['build', bad]);
  expect(out.code).toBe(1);
  expect(out.stderr).toMatch(/variants\[0\]\.steps\[0\]\.kind/);

  const future = writePlan(dir, 'future.json', { version: 99 });
  const refused = await sborka.run(['build', future]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/plan version 99 is newer than this sborka understands/);

  const usage = await sborka.run(['build']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toMatch(/usage: sborka build/);
});

test('schedule sync creates, keeps, updates and deletes nightly schedules to match the recipes', async () => {
  const base = JSON.parse(fs.readFileSync(DEMO, 'utf8'));
  const nightly = writePlan(dir, 'nightly.json', { ...base, schedule: { cron: '0 2 * * *', timezone: 'Europe/Moscow' } });
  const dry = await sborka.run(['schedule', 'sync', nightly, '--dry-run']);
  expect(dry.stdout).toMatch(/^\+ sborka-nightly-sborka-sources$/m);
  expect((await sborka.run(['schedule', 'list'])).stdout).toBe('');

  expect((await sborka.run(['schedule', 'sync', nightly])).stdout).toMatch(/created 1, updated 0, deleted 0, unchanged 0/);
  expect((await sborka.run(['schedule', 'sync', nightly])).stdout).toMatch(/created 0, updated 0, deleted 0, unchanged 1/);
  expect((await sborka.run(['schedule', 'list'])).stdout).toMatch(/sborka-sources\s+0 2 \* \* \* Europe\/Moscow\s+active/);

  const changed = writePlan(dir, 'nightly.json', { ...base, schedule: { cron: '30 3 * * *', timezone: 'UTC' } });
  expect((await sborka.run(['schedule', 'sync', changed])).stdout).toMatch(/updated 1/);
  expect((await sborka.run(['schedule', 'list'])).stdout).toMatch(/30 3 \* \* \* UTC/);

  const unscheduled = writePlan(dir, 'plain.json', base);
  expect((await sborka.run(['schedule', 'sync', unscheduled])).stdout).toMatch(/^- sborka-nightly-sborka-sources$/m);
  expect((await sborka.run(['schedule', 'list'])).stdout).toBe('');
});
