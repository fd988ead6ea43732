// Builds survive what kills machines: a worker or the Temporal server killed with
// SIGKILL in the middle of a step. Real server, real worker processes, real steps.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLedger } from '../../activities';
import { eventually, SborkaEnv, writePlan, x86Plan } from '../helpers/sborka-env';

jest.setTimeout(300_000);

let sborka: SborkaEnv;
let dir: string;

beforeAll(async () => {
  sborka = await SborkaEnv.start();
});
afterAll(async () => {
  await sborka?.stop();
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-durability-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A program that says it started, then waits for a "go" file before writing its output. */
function gatedStep(id: string, needs: string[]) {
  const script = `
    const fs = require('fs'), path = require('path');
    fs.writeFileSync(${JSON.stringify(path.join(dir, `${id}.started`))}, String(process.pid));
    const go = ${JSON.stringify(path.join(dir, 'go'))};
    const wait = () => fs.existsSync(go)
      ? fs.writeFileSync(path.join(process.env.SBORKA_OUTPUT_DIR, '${id}.txt'), '${id}\\n')
      : setTimeout(wait, 100);
    wait();`;
  return {
    id,
    kind: 'exec',
    needs,
    params: { argv: [process.execPath, '-e', script] },
    retry: { maximumAttempts: 5, initialIntervalMs: 500 },
    // Short, so that the step of a killed worker is retried within seconds.
    timeouts: { startToCloseMs: 240_000, heartbeatMs: 8_000 },
  };
}

function writeStep(id: string, text: string, needs: string[] = []) {
  const script = `require('fs').writeFileSync(require('path').join(process.env.SBORKA_OUTPUT_DIR, '${id}.txt'), ${JSON.stringify(text)})`;
  return { id, kind: 'exec', needs, params: { argv: [process.execPath, '-e', script] } };
}

function plan(product: string) {
  return x86Plan(
    product,
    [
      // The unique text keeps this test's keys apart from any other run's.
      writeStep('first', `first ${dir}\n`),
      gatedStep('slow', ['first']),
      { id: 'sums', kind: 'checksum', needs: ['first', 'slow'], params: {} },
    ],
    [{ name: 'sums', step: 'sums', path: 'SHA256SUMS', format: 'report' }],
  );
}

async function startBuild(file: string): Promise<string> {
  const out = await sborka.run(['build', file, '--no-worker']);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  const m = /^started (\S+)/m.exec(out.stdout);
  expect(m).not.toBeNull();
  return m![1]!;
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

test('a worker killed with SIGKILL mid-step is replaced and the build finishes; finished steps ran once', async () => {
  const worker = sborka.spawn(['worker']);
  const buildId = await startBuild(writePlan(dir, 'plan.json', plan('crash-worker')));
  await eventually('the slow step to start', async () => (fs.existsSync(path.join(dir, 'slow.started')) ? true : undefined));

  worker.kill('SIGKILL');
  await eventually('the worker to die', async () => (worker.exitCode !== null || worker.signalCode ? true : undefined));
  // The killed worker's step process is orphaned; the go file lets it end on its own.
  const orphan = Number(fs.readFileSync(path.join(dir, 'slow.started'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'go'), '');
  await eventually('the orphaned step process to end', async () => (processGone(orphan) ? true : undefined));

  sborka.spawn(['worker']);
  const client = await sborka.client();
  const result = (await client.workflow.getHandle(buildId).result()) as { state: string };
  expect(result.state).toBe('succeeded');

  const ledger = (await readLedger(sborka.config.storeDir)).filter((e) => e.buildId === buildId);
  const runsOf = (step: string) => ledger.filter((e) => e.stepId === step);
  // `first` finished before the kill: exactly one execution, never redone.
  expect(runsOf('first').map((e) => e.outcome)).toEqual(['succeeded']);
  // `slow` was cut off; the replacement worker's attempt (2 or later) finished it.
  expect(runsOf('slow').filter((e) => e.outcome === 'succeeded')).toHaveLength(1);
  expect(runsOf('slow').find((e) => e.outcome === 'succeeded')!.attempt).toBeGreaterThan(1);
  expect(runsOf('sums').map((e) => e.outcome)).toEqual(['succeeded']);
});

test('the Temporal server killed with SIGKILL mid-build restarts on the same SQLite file and the build finishes', async () => {
  sborka.spawn(['worker']);
  const buildId = await startBuild(writePlan(dir, 'plan.json', plan('crash-server')));
  await eventually('the slow step to start', async () => (fs.existsSync(path.join(dir, 'slow.started')) ? true : undefined));

  const serverPid = sborka.serverPid();
  process.kill(serverPid, 'SIGKILL');
  await eventually('the server to die', async () => (processGone(serverPid) ? true : undefined));
  fs.writeFileSync(path.join(dir, 'go'), '');
  const { started } = await sborka.startServer();
  expect(started).toBe(true);

  const connection = await (await import('@temporalio/client')).Connection.connect({ address: sborka.address });
  try {
    const client = new (await import('@temporalio/client')).Client({ connection });
    const result = (await client.workflow.getHandle(buildId).result()) as { state: string; variants: Array<{ state: string }> };
    expect(result.state).toBe('succeeded');
    expect(result.variants.map((v) => v.state)).toEqual(['succeeded']);
  } finally {
    await connection.close();
  }
  const ledger = (await readLedger(sborka.config.storeDir)).filter((e) => e.buildId === buildId);
  expect(ledger.filter((e) => e.stepId === 'first').map((e) => e.outcome)).toEqual(['succeeded']);
  expect(ledger.filter((e) => e.stepId === 'sums').map((e) => e.outcome)).toEqual(['succeeded']);
});
