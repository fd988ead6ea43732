// The file lock that guards shared caches: one holder at a time, waiters proceed in turn, a
// cancelled wait gives up, and a holder that dies (SIGKILL) leaves no lock behind.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { acquireFileLock, withFileLock } from '../../activities/file-lock';
import { makeTmpDir, removeDir } from './helpers';

let dir: string;
beforeEach(() => (dir = makeTmpDir('sborka-lock-')));
afterEach(() => removeDir(dir));

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('one holder at a time: a second taker waits until the first releases', async () => {
  const file = path.join(dir, 'cache.lock');
  const order: string[] = [];
  const first = await acquireFileLock(file);
  const second = withFileLock(file, undefined, async () => void order.push('second holds'));
  await tick(300);
  expect(order).toEqual([]);
  order.push('first releases');
  await first.release();
  await second;
  expect(order).toEqual(['first releases', 'second holds']);
});

test('withFileLock runs its callers one after another and releases on a throw', async () => {
  const file = path.join(dir, 'nested', 'cache.lock');
  let inside = 0;
  let most = 0;
  const critical = async () => {
    most = Math.max(most, ++inside);
    await tick(50);
    inside -= 1;
  };
  await Promise.all([1, 2, 3].map(() => withFileLock(file, undefined, critical)));
  expect(most).toBe(1);
  await expect(withFileLock(file, undefined, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
  await withFileLock(file, undefined, async () => undefined); // not left held by the throw
});

test('a cancelled wait rejects with the signal\'s reason and takes nothing', async () => {
  const file = path.join(dir, 'cache.lock');
  const held = await acquireFileLock(file);
  const controller = new AbortController();
  const waiting = acquireFileLock(file, controller.signal);
  await tick(100);
  controller.abort(new Error('step cancelled'));
  await expect(waiting).rejects.toThrow('step cancelled');
  await held.release();
  await (await acquireFileLock(file)).release();
});

test('a worker killed with SIGKILL while holding the lock leaves it free', async () => {
  const file = path.join(dir, 'cache.lock');
  // Another process (the compiled module, as a worker runs it) takes the lock and is killed.
  const compiled = path.resolve(__dirname, '..', '..', 'build', 'activities', 'file-lock.js');
  const script = `require(${JSON.stringify(compiled)}).acquireFileLock(${JSON.stringify(file)}).then(() => console.log('held'))`;
  const holder = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`holder exited (${code}) before taking the lock`)));
  });
  holder.removeAllListeners('exit');
  const taken = acquireFileLock(file);
  let got = false;
  void taken.then(() => (got = true));
  await tick(200);
  expect(got).toBe(false);
  holder.kill('SIGKILL');
  await (await taken).release();
});
