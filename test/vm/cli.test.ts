// `sborka vm-run` end to end: the command's exit code is the process's, its output is on
// stdout, --kvm=cond skips here, usage errors exit 2 without booting.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { vmRunMain } from '../../cli/commands/vm-run';
import { detectKvm } from '../../activities/vm/kvm';
import { busyboxRoot, stateDir, tmpDir } from './fixtures';

jest.setTimeout(600_000);

const work = tmpDir('sborka-vm-cli-');
let root: string;

beforeAll(async () => {
  root = await busyboxRoot('aarch64', work);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (b: Buffer) => out.push(b.toString()));
  stderr.on('data', (b: Buffer) => err.push(b.toString()));
  return { io: { stdout, stderr, cwd: work, env: { SBORKA_STATE_DIR: stateDir } }, out, err };
}

test('vm-run returns the command\'s exit code and prints its output', async () => {
  const t = io();
  const log = path.join(work, 'console.log');
  const code = await vmRunMain(['--arch=aarch64', '--tcg', '--mem=256M', `--root=${root}`, `--console-log=${log}`, 'sh', '-c', 'echo "hello from $(uname -m)"; exit 42'], t.io);
  expect(code).toBe(42);
  expect(t.out.join('')).toContain('hello from aarch64');
  expect(fs.readFileSync(log, 'utf8')).toContain('hello from aarch64');
});

test('vm-run --kvm=cond on a host without working KVM skips (exit 0, as ALT vm-run) and says so', async () => {
  const kvm = await detectKvm({ stateDir });
  if (kvm.usable) return;
  const t = io();
  const code = await vmRunMain([`--root=${root}`, '--kvm=cond', 'false'], t.io);
  expect(code).toBe(0);
  expect(t.err.join('')).toMatch(/skipped \(--kvm=cond\)/);
});

test('usage errors exit 2 and print the usage', async () => {
  const t = io();
  expect(await vmRunMain(['--kvm=sometimes', `--root=${root}`, 'true'], t.io)).toBe(2);
  expect(t.err.join('')).toMatch(/usage: sborka vm-run/);
});
