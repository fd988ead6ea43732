// A boot test stops as soon as the console shows the boot cannot go on (a Secure Boot
// refusal, a kernel panic), instead of waiting out its timeout. The "VM" here is a shell
// that writes a console file as qemu's serial port would, then waits a long time: only
// the early stop ends it within this test's time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { defineKind, KindRegistry } from '../../activities/kinds/registry';
import { bootUntil } from '../../activities/vm/boot-console';
import { loadConfig } from '../../config/config';
import { StepInput } from '../../plan/step-contract';
import { quietSdkLogger, removeDir, silentLogger } from '../activities/helpers';
import { tmpDir } from './fixtures';

jest.setTimeout(120_000);

let dir: string;
beforeAll(() => {
  dir = tmpDir('sborka-boot-stopped-');
});
afterAll(() => removeDir(dir));

let n = 0;
async function boot(consoleText: string, expect: string) {
  const stateDir = path.join(dir, `state-${++n}`);
  fs.mkdirSync(stateDir);
  const config = loadConfig({ SBORKA_STATE_DIR: stateDir });
  const consoleLog = path.join(dir, `console-${n}.log`);
  let run: Awaited<ReturnType<typeof bootUntil>> | undefined;
  const kind = defineKind('noop', async (ctx) => {
    // Written the way a serial console grows: a first part, then the rest a moment later.
    const script = 'printf "%s" "$1" > "$3"; sleep 1; printf "%s" "$2" >> "$3"; exec sleep 600';
    const half = Math.floor(consoleText.length / 2);
    run = await bootUntil(ctx, ['sh', '-c', script, 'vm', consoleText.slice(0, half), consoleText.slice(half), consoleLog], consoleLog, 600_000, (t) => t.includes(expect));
    return {};
  });
  const { runStep } = createActivities({ config, logger: silentLogger, registry: new KindRegistry().register('*', kind), killGraceMs: 1000 });
  await new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${n}`, variantId: 'boot', toolchain: { name: 'debian', version: '1' }, step: { id: 'boot', kind: 'noop', params: {} }, inputs: {},
  }));
  return run!;
}

test.each([
  ['shim', 'Booting `Debian GNU/Linux`\r\nVerification failed: (0x1A) Security Violation\r\n', /shim refused the next loader \("Verification failed: \(0x1A\) Security Violation"\)/],
  ['GRUB', 'Loading Linux 6.1.0-57-amd64 ...\nerror: bad shim signature.\nPress any key to continue...', /GRUB refused the kernel/],
  ['the firmware', 'BdsDxe: loading Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x3,0x0)\r\nBdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x3,0x0): Access Denied\r\n', /the firmware refused the loader/],
  ['the kernel', '[    2.101234] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n', /the kernel panicked/],
])('a refusal by %s ends the boot at once, with the line that says why', async (_who, text, why) => {
  const run = await boot(text, 'login:');
  expect(run.matched).toBe(false);
  expect(run.why).toMatch(why);
  expect(run.outcome.signal ?? run.outcome.exitCode).not.toBe(0);
});

test('the expected text wins over a refusal the test itself waits for, and a clean console is no refusal', async () => {
  const denied = await boot('BdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0): Access Denied\r\n', 'Access Denied');
  expect(denied.matched).toBe(true);
  const fine = await boot('Debian GNU/Linux 12 debian ttyS0\r\n\r\ndebian login: ', 'login:');
  expect(fine).toMatchObject({ matched: true });
  // A panic named in a log line that is no panic (a unit's description) is not one either.
  const quoted = await boot('Starting kernel-panic-watch.service...\ndebian login: ', 'login:');
  expect(quoted.matched).toBe(true);
});
