// runInVm against real qemu and real Debian kernels, for every architecture: exit codes
// propagate, the console is logged, a timeout and a cancellation kill qemu.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { groupIsRunning, processIsRunning } from '../../activities/process-runner';
import { prepareVmKernel, type VmArch, type VmKernel } from '../../activities/vm/kernels';
import { runInVm, vmRunPassed, type RunInVmInput, type VmRunResult } from '../../activities/vm/run-in-vm';
import { ARCHES, busyboxRoot, noneAlive, qemuPids, stateDir, tmpDir } from './fixtures';

jest.setTimeout(600_000);

const work = tmpDir('sborka-vm-test-');
const roots = new Map<VmArch, string>();
const kernels = new Map<VmArch, VmKernel>();

beforeAll(async () => {
  for (const arch of ARCHES) {
    kernels.set(arch, await prepareVmKernel(arch, { stateDir }));
    roots.set(arch, await busyboxRoot(arch, work));
  }
});

afterAll(() => {
  expect(noneAlive()).toEqual([]);
  fs.rmSync(work, { recursive: true, force: true });
});

let n = 0;
async function vm(arch: VmArch, command: string[], extra: Partial<RunInVmInput> = {}): Promise<VmRunResult> {
  const r = await runInVm({
    arch,
    command,
    root: roots.get(arch)!,
    kernel: kernels.get(arch),
    kvm: 'tcg',
    consoleLog: path.join(work, `console-${arch}-${++n}.log`),
    stateDir,
    timeoutMs: 300_000,
    ...extra,
  });
  if (r.qemu?.pid) qemuPids.add(r.qemu.pid);
  return r;
}

describe.each(ARCHES)('%s guest', (arch) => {
  test('true exits 0', async () => {
    const r = await vm(arch, ['true']);
    expect(r).toMatchObject({ status: 'exited', exitCode: 0, accel: 'tcg' });
    expect(vmRunPassed(r)).toBe(true);
    expect(r.kernel?.package).toMatch(/^linux-image-/);
  });

  // A non-zero exit is a failed run: 42 rather than `false`'s 1, so the code itself is seen to
  // come back (one boot per arch fewer than testing both).
  test("sh -c 'exit 42' exits 42 and fails the run, and the console log holds the command's output", async () => {
    const r = await vm(arch, ['sh', '-c', 'echo "marker-$((6 * 7))-$(uname -m)"; exit 42']);
    expect(r).toMatchObject({ status: 'exited', exitCode: 42 });
    expect(vmRunPassed(r)).toBe(false);
    const log = fs.readFileSync(r.consoleLog, 'utf8');
    // Computed in the guest: the argv alone does not contain it.
    expect(log).toContain(`marker-42-${arch}`);
  });
});

test('arguments reach the guest byte for byte; env, cwd and extra mounts work', async () => {
  const data = path.join(work, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(path.join(data, 'in'), 'from the host\n');
  const tricky = ['a b', "it's", 'x\ny\n', '$HOME', '`id`', ''];
  const r = await vm(
    'x86_64',
    ['sh', '-c', 'printf "%s|" "$@" > /mnt/data/args; cat /mnt/data/in > /mnt/data/copy; echo "$FOO" > /mnt/data/env; pwd > /mnt/data/cwd', 'sh', ...tricky],
    { mounts: [{ hostPath: data, guestPath: '/mnt/data' }], env: { FOO: 'bar baz' }, cwd: '/tmp' },
  );
  expect(r).toMatchObject({ status: 'exited', exitCode: 0 });
  expect(fs.readFileSync(path.join(data, 'args'), 'utf8')).toBe(`${tricky.join('|')}|`);
  expect(fs.readFileSync(path.join(data, 'copy'), 'utf8')).toBe('from the host\n');
  expect(fs.readFileSync(path.join(data, 'env'), 'utf8')).toBe('bar baz\n');
  expect(fs.readFileSync(path.join(data, 'cwd'), 'utf8')).toBe('/tmp\n');
});

test('a read-only root cannot be written', async () => {
  const r = await vm('x86_64', ['sh', '-c', 'echo x > /tmp/should-not-exist'], { rootReadOnly: true });
  expect(r.status).toBe('exited');
  expect(r.exitCode).not.toBe(0);
  expect(fs.existsSync(path.join(roots.get('x86_64')!, 'tmp/should-not-exist'))).toBe(false);
});

test('a timeout kills qemu and is reported as such', async () => {
  const r = await vm('x86_64', ['sleep', '3600'], { timeoutMs: 4000 });
  expect(r.status).toBe('timeout');
  expect(r.exitCode).toBeUndefined();
  expect(vmRunPassed(r)).toBe(false);
  const pid = r.qemu!.pid!;
  expect(processIsRunning(pid)).toBe(false);
  expect(groupIsRunning(pid)).toBe(false);
});

test('cancellation through the AbortSignal kills qemu', async () => {
  const ac = new AbortController();
  const r = await vm('aarch64', ['sh', '-c', 'echo ready-to-be-cancelled; exec sleep 3600'], {
    signal: ac.signal,
    onConsoleLine: (line) => {
      if (line.includes('ready-to-be-cancelled')) ac.abort();
    },
  });
  expect(r.status).toBe('cancelled');
  const pid = r.qemu!.pid!;
  expect(processIsRunning(pid)).toBe(false);
  expect(groupIsRunning(pid)).toBe(false);
  expect(fs.readFileSync(r.consoleLog, 'utf8')).toContain('ready-to-be-cancelled');
});

test('an already aborted signal starts nothing', async () => {
  const ac = new AbortController();
  ac.abort();
  const r = await vm('x86_64', ['true'], { signal: ac.signal });
  expect(r.status).toBe('cancelled');
  expect(r.qemu).toBeUndefined();
});

test('a command missing from the root exits 127 inside the guest', async () => {
  const r = await vm('riscv64', ['no-such-command']);
  expect(r).toMatchObject({ status: 'exited', exitCode: 127 });
});

test('invalid options are rejected before anything boots', async () => {
  await expect(vm('x86_64', ['true'], { root: path.join(work, 'missing') })).rejects.toThrow(/not a directory/);
  await expect(vm('x86_64', ['true'], { mounts: [{ hostPath: work, guestPath: 'relative' }] })).rejects.toThrow(/absolute/);
  await expect(vm('x86_64', [])).rejects.toThrow(/command/);
});
