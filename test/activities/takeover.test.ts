// Takeover after a kill, with real processes: a "dead worker" is a process that was really
// killed with SIGKILL, its leftover group a real detached process; only the Temporal call is
// recorded (the engine test, test/engine/takeover.test.ts, makes it for real).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { bootId, listRecords, pidNamespace, processStartTime, recordsDir, selfIdentity, type AttemptRecord } from '../../activities/attempt-records';
import { groupIsRunning } from '../../activities/process-runner';
import { takeOverDeadWorkers } from '../../activities/takeover';
import { makeTmpDir, removeDir, silentLogger } from './helpers';

let dir: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = makeTmpDir('sborka-takeover-');
});
afterEach(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  children.length = 0;
  removeDir(dir);
});

/** A detached `sleep`: its own process group, as the runner starts a step's program. */
function leftoverGroup(): ChildProcess {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  children.push(child);
  return child;
}

async function deadProcess(): Promise<{ pid: number; start: string }> {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  const start = await until(() => processStartTime(child.pid!));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return { pid: child.pid!, start };
}

async function until<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function writeRecord(name: string, fields: Partial<AttemptRecord>): string {
  const record: AttemptRecord = {
    host: os.hostname(), bootId: bootId(), pidNs: pidNamespace(), worker: selfIdentity(), taskToken: Buffer.from(`token-${name}`).toString('base64'),
    workflowId: `wf-${name}`, activityId: `act-${name}`, activityType: 'runStep', attempt: 1, startedAt: new Date().toISOString(), groups: [], ...fields,
  };
  fs.mkdirSync(recordsDir(dir), { recursive: true });
  const file = `${recordsDir(dir)}/${name}.json`;
  fs.writeFileSync(file, JSON.stringify(record));
  return file;
}

function recorder(reply: (token: string) => Promise<void> = async () => undefined) {
  const failed: Array<{ token: string; failure: ApplicationFailure }> = [];
  return {
    failed,
    fail: async (token: Uint8Array, failure: ApplicationFailure) => {
      failed.push({ token: Buffer.from(token).toString(), failure });
      await reply(Buffer.from(token).toString());
    },
  };
}

test('a dead worker\'s leftover group is ended and its attempt failed by task token, retryable, and the record goes', async () => {
  const group = leftoverGroup();
  const worker = await deadProcess();
  const file = writeRecord('dead', { worker, groups: [{ pid: group.pid!, start: await until(() => processStartTime(group.pid!)) }] });
  const rec = recorder();
  const taken = await takeOverDeadWorkers({ stateDir: dir, logger: silentLogger, fail: rec.fail, killGraceMs: 2000 });
  expect(groupIsRunning(group.pid!)).toBe(false);
  expect(rec.failed.map((f) => f.token)).toEqual(['token-dead']);
  expect(rec.failed[0]!.failure).toBeInstanceOf(ApplicationFailure);
  expect(rec.failed[0]!.failure.type).toBe('StepFailed');
  expect(rec.failed[0]!.failure.nonRetryable).toBe(false);
  expect(rec.failed[0]!.failure.message).toContain(`pid ${worker.pid}`);
  expect(taken).toEqual([expect.objectContaining({ workflowId: 'wf-dead', outcome: 'failed', killedGroups: [group.pid], deadWorkerPid: worker.pid })]);
  expect(fs.existsSync(file)).toBe(false);
});

test('records of a live worker, of another host and of another pid namespace are left alone, their groups too', async () => {
  const group = leftoverGroup();
  const start = await until(() => processStartTime(group.pid!));
  const worker = await deadProcess();
  const live = writeRecord('live', { groups: [{ pid: group.pid!, start }] });
  const elsewhere = writeRecord('elsewhere', { host: `${os.hostname()}-other`, worker, groups: [{ pid: group.pid!, start }] });
  const otherNs = writeRecord('other-ns', { pidNs: 'pid:[1]', worker, groups: [{ pid: group.pid!, start }] });
  const rec = recorder();
  expect(await takeOverDeadWorkers({ stateDir: dir, logger: silentLogger, fail: rec.fail })).toEqual([]);
  expect(rec.failed).toEqual([]);
  expect(groupIsRunning(group.pid!)).toBe(true);
  for (const f of [live, elsewhere, otherNs]) expect(fs.existsSync(f)).toBe(true);
});

test('a worker pid reused by another process is still dead: the start time tells them apart', async () => {
  // Our own pid stands for the reused one: alive, but started at another time than recorded.
  writeRecord('reused', { worker: { pid: process.pid, start: '1' } });
  const rec = recorder();
  const taken = await takeOverDeadWorkers({ stateDir: dir, logger: silentLogger, fail: rec.fail });
  expect(taken.map((t) => t.workflowId)).toEqual(['wf-reused']);
});

test('a group pid now held by a process started at another time is not killed', async () => {
  const stranger = leftoverGroup(); // a group leader that is not the recorded one
  const worker = await deadProcess();
  writeRecord('stale', { worker, groups: [{ pid: stranger.pid!, start: '1' }] });
  const rec = recorder();
  const taken = await takeOverDeadWorkers({ stateDir: dir, logger: silentLogger, fail: rec.fail });
  expect(groupIsRunning(stranger.pid!)).toBe(true);
  expect(taken).toEqual([expect.objectContaining({ killedGroups: [], outcome: 'failed' })]);
});

test('an attempt Temporal already closed is dropped; a failing call keeps the record for the next pass', async () => {
  const worker = await deadProcess();
  const closed = writeRecord('closed', { worker });
  const down = writeRecord('down', { worker });
  const rec = recorder(async (token) => {
    if (token === 'token-closed') throw Object.assign(new Error('not found'), { name: 'ActivityNotFoundError' });
    throw new Error('connection refused');
  });
  const taken = await takeOverDeadWorkers({ stateDir: dir, logger: silentLogger, fail: rec.fail });
  expect(taken).toEqual([expect.objectContaining({ workflowId: 'wf-closed', outcome: 'closed' })]);
  expect(fs.existsSync(closed)).toBe(false);
  expect(fs.existsSync(down)).toBe(true);
});

test('torn and foreign files in the records directory are skipped, not fatal', async () => {
  fs.mkdirSync(recordsDir(dir), { recursive: true });
  fs.writeFileSync(`${recordsDir(dir)}/torn.json`, '{"host":');
  fs.writeFileSync(`${recordsDir(dir)}/odd.json`, JSON.stringify({ host: os.hostname(), worker: { pid: -1 } }));
  fs.writeFileSync(`${recordsDir(dir)}/x.json.tmp`, 'partial');
  expect(listRecords(recordsDir(dir))).toEqual([]);
  expect(await takeOverDeadWorkers({ stateDir: dir, logger: silentLogger, fail: recorder().fail })).toEqual([]);
});
