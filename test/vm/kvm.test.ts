// KVM detection really boots a guest, and vm-run's --kvm modes follow what it finds. On
// our machines /dev/kvm exists but KVM fails: cond skips, only refuses, try falls back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chooseAccel, detectKvm, hostVmArch, probeAccel, type KvmStatus } from '../../activities/vm/kvm';
import { runInVm, vmRunPassed } from '../../activities/vm/run-in-vm';
import { busyboxRoot, noneAlive, qemuPids, stateDir, tmpDir } from './fixtures';

jest.setTimeout(600_000);

const work = tmpDir('sborka-vm-kvm-');
const host = hostVmArch()!;
let root: string;
let kvm: KvmStatus;

beforeAll(async () => {
  root = await busyboxRoot(host, work);
  kvm = await detectKvm({ stateDir });
});

afterAll(() => {
  expect(noneAlive()).toEqual([]);
  fs.rmSync(work, { recursive: true, force: true });
});

const base = () => ({ arch: host, root, stateDir, consoleLog: path.join(work, `console-${Date.now()}-${Math.random()}.log`), timeoutMs: 300_000 });

test('the probe guest boots under TCG, so a KVM failure is KVM\'s own', async () => {
  const r = await probeAccel(host, 'tcg', { stateDir });
  expect(r).toMatchObject({ ok: true });
});

test('detection gives a reason and is cached for the process', async () => {
  expect(kvm.reason).not.toBe('');
  expect(kvm.hostArch).toBe(host);
  await expect(detectKvm({ stateDir })).resolves.toBe(kvm);
  // This machine's fact (DESIGN.md): /dev/kvm is there, KVM does not work.
  if (fs.existsSync('/dev/kvm')) expect(kvm.usable).toBe(false);
});

test('--kvm=cond without working KVM is skipped, which is not a pass', async () => {
  const r = await runInVm({ ...base(), command: ['true'], kvm: 'cond' });
  if (r.qemu?.pid) qemuPids.add(r.qemu.pid);
  if (kvm.usable) {
    expect(r).toMatchObject({ status: 'exited', exitCode: 0, accel: 'kvm' });
    return;
  }
  expect(r.status).toBe('skipped');
  expect(r.exitCode).toBeUndefined();
  expect(r.qemu).toBeUndefined();
  expect(vmRunPassed(r)).toBe(false);
  expect(fs.readFileSync(r.consoleLog, 'utf8')).toMatch(/skipped/);
});

test('--kvm=only without working KVM fails without running', async () => {
  const r = await runInVm({ ...base(), command: ['true'], kvm: 'only' });
  if (r.qemu?.pid) qemuPids.add(r.qemu.pid);
  if (kvm.usable) return expect(r.accel).toBe('kvm');
  expect(r.status).toBe('kvm-unavailable');
  expect(vmRunPassed(r)).toBe(false);
});

test('--kvm=try falls back to TCG and runs', async () => {
  const r = await runInVm({ ...base(), command: ['sh', '-c', 'exit 42'], kvm: 'try' });
  if (r.qemu?.pid) qemuPids.add(r.qemu.pid);
  expect(r).toMatchObject({ status: 'exited', exitCode: 42, accel: kvm.usable ? 'kvm' : 'tcg' });
  if (!kvm.usable) expect(r.reason).toMatch(/falling back to TCG/);
});

describe('chooseAccel', () => {
  const broken: KvmStatus = { usable: false, hostArch: 'x86_64', reason: 'KVM internal error' };
  const works: KvmStatus = { usable: true, hostArch: 'x86_64', reason: 'ok' };
  test.each([
    ['try', 'x86_64', works, { run: true, accel: 'kvm' }],
    ['try', 'x86_64', broken, { run: true, accel: 'tcg' }],
    ['try', 'aarch64', works, { run: true, accel: 'tcg' }],
    ['cond', 'x86_64', works, { run: true, accel: 'kvm' }],
    ['cond', 'x86_64', broken, { run: false, status: 'skipped' }],
    ['cond', 'riscv64', works, { run: false, status: 'skipped' }],
    ['only', 'x86_64', broken, { run: false, status: 'kvm-unavailable' }],
    ['only', 'x86_64', works, { run: true, accel: 'kvm' }],
    ['tcg', 'x86_64', works, { run: true, accel: 'tcg' }],
  ] as const)('%s for a %s guest', (mode, guest, status, want) => {
    expect(chooseAccel(mode, guest, status)).toMatchObject(want);
  });
});
