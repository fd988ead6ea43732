// A worker killed with SIGKILL mid-step is taken over by the next worker on the host: the
// step's leftover process is ended (not left to finish by itself) and the attempt is failed
// by task token, so the retry does not wait for the heartbeat timeout. Real Temporal server,
// real worker processes, a real long child process.
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
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-takeover-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Each attempt appends its pid, then waits for a "go" file that only the test writes. */
function waitingStep(id: string) {
  const script = `
    const fs = require('fs'), path = require('path');
    fs.appendFileSync(${JSON.stringify(path.join(dir, `${id}.pids`))}, process.pid + '\\n');
    const go = ${JSON.stringify(path.join(dir, 'go'))};
    const wait = () => fs.existsSync(go)
      ? fs.writeFileSync(path.join(process.env.SBORKA_OUTPUT_DIR, '${id}.txt'), ${JSON.stringify(`${id} ${dir}\n`)})
      : setTimeout(wait, 100);
    wait();`;
  return {
    id,
    kind: 'exec',
    params: { argv: [process.execPath, '-e', script] },
    retry: { maximumAttempts: 5, initialIntervalMs: 500 },
    // The planner's heartbeat timeout: the takeover, not this, must retry the step.
    timeouts: { startToCloseMs: 240_000, heartbeatMs: 30_000 },
  };
}

function pidsOf(id: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, `${id}.pids`), 'utf8').trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // An exited child nobody reaped is no longer running.
  return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

test('the next worker ends a killed worker\'s step process and fails its attempt at once; the retry finishes the build', async () => {
  const first = sborka.spawn(['worker']);
  const file = writePlan(dir, 'plan.json', x86Plan('takeover', [waitingStep('slow')]));
  const out = await sborka.run(['build', file, '--no-worker']);
  expect(out.code).toBe(0);
  const buildId = /^started (\S+)/m.exec(out.stdout)![1]!;
  const [orphan] = await eventually('the step to start', async () => (pidsOf('slow').length === 1 ? pidsOf('slow') : undefined));

  first.kill('SIGKILL');
  await eventually('the worker to die', async () => (first.exitCode !== null || first.signalCode ? true : undefined));
  // The kill leaves the step's process running: it is in its own process group.
  expect(alive(orphan!)).toBe(true);

  sborka.spawn(['worker']);
  await eventually('the leftover step process to be ended', async () => (alive(orphan!) ? undefined : true));
  const retried = await eventually('the retried attempt to start', async () => pidsOf('slow')[1]);
  expect(retried).not.toBe(orphan);
  fs.writeFileSync(path.join(dir, 'go'), '');

  const client = await sborka.client();
  const result = (await client.workflow.getHandle(buildId).result()) as { state: string; variants: Array<{ workflowId: string }> };
  expect(result.state).toBe('succeeded');

  // The retried attempt started because the takeover failed the first one, not by a timeout.
  const events = (await client.workflow.getHandle(result.variants[0]!.workflowId).fetchHistory()).events ?? [];
  const started = events.map((e) => e.activityTaskStartedEventAttributes).filter((a) => a && (a.attempt ?? 1) > 1);
  expect(started).toHaveLength(1);
  expect(started[0]!.lastFailure?.message).toContain('took over');
  expect(started[0]!.lastFailure?.applicationFailureInfo?.type).toBe('StepFailed');

  const ledger = (await readLedger(sborka.config.storeDir)).filter((e) => e.buildId === buildId && e.stepId === 'slow');
  expect(ledger.map((e) => [e.attempt, e.outcome])).toEqual([[2, 'succeeded']]);
  // Nothing of the dead worker is left for a later worker to find.
  expect(fs.readdirSync(path.join(sborka.stateDir, 'running')).filter((n) => n.endsWith('.json'))).toEqual([]);
});
