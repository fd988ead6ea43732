// A foreign root's own programs through qemu-user (activities/debian/qemu-user.ts), on tiny
// real roots (busybox-static of aarch64 and riscv64): the program runs on the emulated CPU
// with real owners and its own exit code, and the walls hold: no host file (not through a
// symlink either), no network, no capability beyond dpkg's, no mount, and the binfmt entry
// never reaches the host. A partner's step (isolation "vm") still goes to a VM: that path is
// foreign-root.test.ts's.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { runInRoot } from '../../activities/debian/sandbox';
import { qemuUserUsable } from '../../activities/debian/qemu-user';
import { defineKind, KindRegistry, type KindContext } from '../../activities/kinds/registry';
import type { ToolRun } from '../../activities/debian/run-tool';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { loadConfig } from '../../config/config';
import { busyboxRoot, tmpDir } from '../vm/fixtures';
import { quietSdkLogger, removeDir, silentLogger } from '../activities/helpers';
import { qemuUnder } from './image-fixture';

jest.setTimeout(5 * 60_000);

let dir: string;
beforeAll(() => {
  dir = tmpDir('sborka-qemu-user-');
});
afterAll(() => {
  const alive = qemuUnder(dir);
  removeDir(dir);
  expect(alive).toEqual([]);
});

let n = 0;
/** Runs `body` as a step's kind over a fresh busybox root of `arch`; returns what it saw and the step's log. */
async function inStep<T>(arch: 'aarch64' | 'riscv64', body: (ctx: KindContext, root: string) => Promise<T>): Promise<{ seen: T; log: string }> {
  const stateDir = path.join(dir, `state-${++n}`);
  fs.mkdirSync(stateDir);
  const config = loadConfig({ SBORKA_STATE_DIR: stateDir });
  let seen: T | undefined;
  const probe = defineKind('noop', async (ctx) => {
    seen = await body(ctx, await busyboxRoot(arch, ctx.workDir));
    return {};
  });
  const { runStep } = createActivities({ config, logger: silentLogger, registry: new KindRegistry().register('*', probe), killGraceMs: 3000 });
  const result: StepResult = await new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${n}`, variantId: 'qemu-user', toolchain: { name: 'debian', version: '1' }, step: { id: 'probe', kind: 'noop', params: {} }, inputs: {},
  }));
  return { seen: seen as T, log: fs.readFileSync(result.logPath, 'utf8') };
}

const sh = (ctx: KindContext, root: string, debArch: string, script: string): Promise<ToolRun> =>
  runInRoot(ctx, root, debArch, { argv: ['/bin/busybox', 'sh', '-c', script], phase: 'probe' });

test('this host runs foreign roots through qemu-user (the foreign pipelines count on it)', async () => {
  expect(await qemuUserUsable('arm64', dir)).toBe(true);
  expect(await qemuUserUsable('riscv64', dir)).toBe(true);
  // An arch without a qemu-user entry is refused, not guessed.
  expect(await qemuUserUsable('s390-unknown', dir)).toBe(false);
});

test.each([['aarch64', 'arm64'], ['riscv64', 'riscv64']] as const)('%s: the program runs on the emulated CPU, its files keep real owners, modes and hard links, its exit code comes back', async (arch, debArch) => {
  const script = 'bb=/bin/busybox; $bb uname -m > /machine && echo made > /made && $bb chown 1500:1501 /made && $bb chmod 640 /made && $bb ln /made /made-link && exit 3';
  const { seen, log } = await inStep(arch, async (ctx, root) => {
    const r = await sh(ctx, root, debArch, script);
    const made = fs.statSync(path.join(root, 'made'));
    return {
      ok: r.ok, machine: fs.readFileSync(path.join(root, 'machine'), 'utf8'),
      owner: [made.uid, made.gid], mode: made.mode & 0o777, links: made.nlink,
    };
  });
  expect(seen).toEqual({ ok: false, machine: `${arch}\n`, owner: [1500, 1501], mode: 0o640, links: 2 });
  expect(log).not.toContain('qemu-system-');
});

test('the walls: no host file (nor through a symlink), no network, no mount, no capability beyond the listed ones, a fresh pid namespace', async () => {
  const marker = path.join(dir, `host-secret-${process.pid}`);
  fs.writeFileSync(marker, 'host\n');
  const script = [
    'bb=/bin/busybox',
    `[ -e ${marker} ] && echo "host-file: visible" || echo "host-file: absent"`,
    '$bb cat /escape/hostname 2>/dev/null && echo "symlink: escaped" || echo "symlink: held"',
    'echo "net: $($bb cat /proc/net/dev | $bb tail -n +3 | $bb cut -d: -f1 | $bb tr -d " " | $bb tr "\\n" " ")"',
    '$bb mount -t tmpfs none /tmp 2>/dev/null && echo "mount: allowed" || echo "mount: refused"',
    // bwrap's reaper is pid 1 of the new namespace, the program pid 2.
    'echo "pid: $$"',
    'echo "caps: $($bb grep CapEff /proc/self/status | $bb cut -f2)"',
  ].join('\n');
  const { seen } = await inStep('aarch64', async (ctx, root) => {
    // A symlink out of the root: resolved inside it, where /etc/hostname does not exist.
    fs.symlinkSync('/etc', path.join(root, 'escape'));
    const r = await sh(ctx, root, 'arm64', script);
    return { ok: r.ok, lines: r.lines.filter((l) => /^(host-file|symlink|net|mount|pid|caps):/.test(l)) };
  });
  fs.rmSync(marker);
  // CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SYS_CHROOT AUDIT_WRITE SETFCAP.
  const caps = [0, 1, 2, 3, 4, 5, 6, 7, 18, 29, 31].reduce((m, b) => m | (1n << BigInt(b)), 0n);
  expect(seen).toEqual({
    ok: true,
    lines: ['host-file: absent', 'symlink: held', 'net: lo ', 'mount: refused', 'pid: 2', `caps: ${caps.toString(16).padStart(16, '0')}`],
  });
});

test('the binfmt entry lives in its own user namespace only: the host\'s binfmt_misc stays empty', async () => {
  await inStep('aarch64', (ctx, root) => sh(ctx, root, 'arm64', '/bin/busybox true'));
  // The host's own instance, seen from a private mount namespace (nothing is mounted on the host).
  const mnt = path.join(dir, 'binfmt');
  fs.mkdirSync(mnt);
  const names = execFileSync('unshare', ['--mount', '--propagation=private', '--', '/bin/sh', '-c', 'mount -t binfmt_misc binfmt_misc "$1" && ls "$1"', 'ls', mnt]).toString().split('\n').filter(Boolean);
  expect(names).not.toContain('sborka');
  expect(names.filter((x) => x.startsWith('qemu-'))).toEqual([]);
});
