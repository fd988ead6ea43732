// Boot tests of the debian toolchain: boot the built disk image in qemu (TCG: KVM fails on
// our hosts) with the serial console in a file, wait for the expected text, and for `run`
// tests execute a command inside the booted system.
//
// How a `run` command gets in: a throw-away copy of the image gets a oneshot-like unit
// (written with debugfs, no mount needed) that waits for boot to settle, runs the command
// and writes its exit code, stdout and stderr as a tar onto a second, empty virtio disk; a
// marker on the console says it is done. The built image itself is never changed, and no
// login (root's password is locked in our recipes) or console scraping is involved.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { type BuiltBy, type DiskFormat, diskImageFormat, FORMATS, formatsBuiltBy } from '../../plan/formats';
import type { Test } from '../../plan/model';
import type { Arch } from '../../plan/plan';
import { badInput, stepFailed } from '../failures';
import type { KindContext, KindResult } from '../kinds/registry';
import type { StoreEntry } from '../store';
import { bootDiskArgv, bootUntil, expectOnConsole, firmwareArgv, type Firmware, keepConsole, qemuBootArgv, qemuPath, testFailed } from '../vm/boot-console';
import { enrolledVars, secureBootFirmwareArgv, secureCdromArgv } from './secure-boot';
import { writerContext, type WriterContext } from './writers';

type BootTest = Extract<Test, { type: 'boot' }>;
type RunTest = Extract<Test, { type: 'run' }>;

/** The formats plan/formats.ts says debian builds and a boot test boots from a disk. */
const DISK_FORMATS = formatsBuiltBy('debian').filter((f): f is BuiltBy<'debian'> & DiskFormat => FORMATS[f].boot === 'disk');

/** What the boot tests read from a build step's values (see images.ts). */
export const BootableImageValues = z.looseObject({
  format: z.enum(DISK_FORMATS as [BuiltBy<'debian'> & DiskFormat, ...(BuiltBy<'debian'> & DiskFormat)[]]),
  file: z.string(),
  sha256: z.string(),
  rootOffsetBytes: z.number().int().min(0),
  bootloader: z.string(),
  kernel: z.string().optional(),
  initrd: z.string().optional(),
  cmdline: z.string(),
  /** Set by `secure-boot on`: the image boots with OVMF's Secure Boot firmware (secure-boot.ts). */
  secureBoot: z.string().optional(),
  /** `secure-boot key`: the signing key's cert (PEM), which the boot test enrolls in the firmware's db. */
  secureBootCert: z.string().optional(),
});
type BootableImage = z.infer<typeof BootableImageValues> & { step: string; path: string };

const MAX_COMMAND_OUTPUT = 1024 * 1024;

/** What the boot test reads from an ISO build's values. */
const IsoImageValues = z.looseObject({ format: z.literal('iso'), file: z.string(), sha256: z.string(), secureBoot: z.string().optional() });
/**
 * The ways a hybrid ISO boots, each booted in turn: from a CD drive with the machine's BIOS
 * and with UEFI, and as a disk (the ISO written to a USB stick) with BIOS.
 */
const ISO_BOOTS: ReadonlyArray<{ firmware: Firmware | 'uefi-secure'; medium: 'cdrom' | 'disk' }> = [
  { firmware: 'bios', medium: 'cdrom' }, { firmware: 'uefi', medium: 'cdrom' }, { firmware: 'bios', medium: 'disk' },
];
/** A Secure Boot ISO also boots from a CD with OVMF's Secure Boot firmware (secure-boot.ts). */
const SECURE_ISO_BOOT = { firmware: 'uefi-secure', medium: 'cdrom' } as const;

/** Boots the image (a disk image, or an ISO in each of its ways) and waits for test.expect on the console. */
export async function runBootTest(ctx: KindContext, arch: Arch, test: BootTest): Promise<KindResult> {
  const iso = isoImage(ctx);
  if (iso && !hasDiskImage(ctx)) return bootIso(ctx, arch, test, iso);
  const image = bootableImage(ctx);
  const w = writerContext(ctx);
  const consoleLog = path.join(ctx.workDir, 'console.log');
  const argv = await qemuArgv(w, arch, image, image.path, consoleLog, [], true, ctx.config.projectRoot);
  const run = await expectOnConsole(ctx, { argv, consoleLog, expect: test.expect, timeoutMs: test.timeoutMs, result: { arch, image: { step: image.step, sha256: image.sha256 } } });
  if (!iso) return { values: { passed: true, elapsedMs: run.elapsedMs, image: image.sha256 } };
  // A product with a disk image and an ISO: both must boot (the ISO's result.json replaces the disk's; both consoles stay).
  const live = await bootIso(ctx, arch, test, iso);
  return { values: { ...live.values, elapsedMs: run.elapsedMs + Number(live.values?.elapsedMs), image: image.sha256, iso: iso.sha256 } };
}

/** Boots a copy of the image with the test harness, runs test.argv inside and compares its exit code and output. */
export async function runRunTest(ctx: KindContext, arch: Arch, test: RunTest): Promise<KindResult> {
  const image = bootableImage(ctx);
  const w = writerContext(ctx);
  const copy = path.join(ctx.workDir, 'disk.img');
  ctx.progress({ phase: 'copying image' });
  if (diskImageFormat(image.format) === 'qcow2') await w.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', image.path, copy]);
  else await w.run(['cp', '--sparse=always', image.path, copy]);
  const nonce = randomBytes(8).toString('hex');
  await injectHarness(w, copy, image.rootOffsetBytes, test, nonce);

  const results = path.join(ctx.workDir, 'results.img');
  await fs.writeFile(results, '');
  await fs.truncate(results, 4 * MAX_COMMAND_OUTPUT);
  const consoleLog = path.join(ctx.workDir, 'console.log');
  const extra = ['-drive', `file=${qemuPath(results)},format=raw,if=none,id=results`, '-device', 'virtio-blk-pci,drive=results,serial=sborka-results'];
  const argv = await qemuArgv(w, arch, { ...image, format: 'img' }, copy, consoleLog, extra, false, ctx.config.projectRoot);
  const done = `SBORKA-RUN-DONE-${nonce}`;
  const run = await bootUntil(ctx, argv, consoleLog, test.timeoutMs, (text) => text.includes(done));
  await keepConsole(ctx, run.console);
  const base = { type: 'run', argv: test.argv, expected: { exitCode: test.exitCode, output: test.output }, arch, image: { step: image.step, sha256: image.sha256 }, elapsedMs: run.elapsedMs };
  if (!run.matched) throw testFailed(`run test ${JSON.stringify(test.argv)}: the command did not finish inside the booted system ${run.why}`, run.console, base);

  const got = path.join(ctx.workDir, 'results');
  await fs.mkdir(got);
  await w.run(['tar', '--extract', `--file=${results}`, `--directory=${got}`, '--no-same-owner']);
  const read = (name: string) => fs.readFile(path.join(got, name), 'utf8').catch(() => undefined);
  const [code, stdout = '', stderr = '', bootState = ''] = await Promise.all([read('exit-code'), read('stdout'), read('stderr'), read('boot-state')]);
  const exitCode = code === undefined ? undefined : Number(code.trim());
  await fs.writeFile(path.join(ctx.outputsDir, 'stdout.txt'), stdout);
  await fs.writeFile(path.join(ctx.outputsDir, 'stderr.txt'), stderr);
  const problems: string[] = [];
  if (exitCode !== test.exitCode) problems.push(`exit code ${exitCode ?? 'unknown'}, expected ${test.exitCode}`);
  if (test.output !== undefined && !outputMatches(stdout, test.output)) problems.push(`output ${JSON.stringify(stdout.trim().slice(0, 500))}, expected ${JSON.stringify(test.output)}`);
  const result = { ...base, passed: problems.length === 0, exitCode, stdout: stdout.slice(0, 4000), stderr: stderr.slice(0, 4000), bootState: bootState.trim() };
  if (problems.length > 0) {
    throw testFailed(`run test ${JSON.stringify(test.argv)}: ${problems.join('; ')}${stderr ? `; stderr: ${stderr.trim().slice(0, 500)}` : ''}`, run.console, result);
  }
  await fs.writeFile(path.join(ctx.outputsDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return { values: { passed: true, exitCode, elapsedMs: run.elapsedMs, image: image.sha256 } };
}

async function bootIso(ctx: KindContext, arch: Arch, test: BootTest, iso: { step: string; path: string; sha256: string; secureBoot?: string }): Promise<KindResult> {
  const boots: Array<Record<string, unknown>> = [];
  for (const b of iso.secureBoot ? [...ISO_BOOTS, SECURE_ISO_BOOT] : ISO_BOOTS) {
    const name = `${b.firmware}-${b.medium}`;
    const consoleLog = path.join(ctx.workDir, `console-${name}.log`);
    const medium = b.medium === 'cdrom' ? { path: iso.path, format: 'iso' as const } : { path: iso.path, format: 'raw' as const, snapshot: true };
    const argv = [
      ...qemuBootArgv({ arch, accel: 'tcg', consoleLog, who: 'the debian toolchain' }),
      ...(b.firmware === 'uefi-secure'
        ? [...(await secureBootFirmwareArgv(arch, ctx.workDir)), ...secureCdromArgv(iso.path)]
        : [...(await firmwareArgv(arch, b.firmware, ctx.workDir)), ...bootDiskArgv(arch, medium)]),
    ];
    const run = await bootUntil(ctx, argv, consoleLog, test.timeoutMs, (text) => text.includes(test.expect));
    await keepConsole(ctx, run.console, `console-${name}.log`);
    boots.push({ firmware: b.firmware, medium: b.medium, passed: run.matched, elapsedMs: run.elapsedMs, qemu: argv });
    const result = { type: 'boot', passed: run.matched, expect: test.expect, arch, image: { step: iso.step, sha256: iso.sha256 }, boots };
    if (!run.matched) throw testFailed(`boot test: "${test.expect}" did not appear on the console booting the ISO from a ${b.medium} with ${b.firmware} ${run.why}`, run.console, result);
  }
  const elapsedMs = boots.reduce((t, b) => t + Number(b.elapsedMs), 0);
  const result = { type: 'boot', passed: true, expect: test.expect, arch, image: { step: iso.step, sha256: iso.sha256 }, elapsedMs, boots };
  await fs.writeFile(path.join(ctx.outputsDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return { values: { passed: true, elapsedMs, image: iso.sha256, boots: boots.map(({ qemu: _q, ...b }) => b) } };
}

function isoImage(ctx: KindContext): { step: string; path: string; sha256: string; secureBoot?: string } | undefined {
  const found = (Object.entries(ctx.inputs) as Array<[string, StoreEntry]>)
    .map(([step, entry]) => ({ step, entry, v: IsoImageValues.safeParse(entry.manifest.outputs.values) }))
    .filter((x) => x.v.success)
    .sort((a, b) => a.step.localeCompare(b.step))[0];
  return found && { step: found.step, path: path.join(found.entry.outputsDir, found.v.data!.file), sha256: found.v.data!.sha256, secureBoot: found.v.data!.secureBoot };
}

function hasDiskImage(ctx: KindContext): boolean {
  return Object.values(ctx.inputs as Record<string, StoreEntry>).some((e) => BootableImageValues.safeParse(e.manifest.outputs.values).success);
}

/** The expected text matches the whole (trimmed) output or one whole line of it. */
export function outputMatches(stdout: string, expected: string): boolean {
  const want = expected.trim();
  return stdout.trim() === want || stdout.split('\n').some((l) => l.trim() === want);
}

function bootableImage(ctx: KindContext): BootableImage {
  const found: BootableImage[] = [];
  for (const [step, entry] of Object.entries(ctx.inputs) as Array<[string, StoreEntry]>) {
    const values = BootableImageValues.safeParse(entry.manifest.outputs.values);
    if (values.success) found.push({ ...values.data, step, path: path.join(entry.outputsDir, values.data.file) });
  }
  // A raw image boots without conversion; a qcow2 one is the fallback.
  const rank = (i: BootableImage): number => (diskImageFormat(i.format) === 'raw' ? 0 : 1);
  found.sort((a, b) => rank(a) - rank(b) || a.step.localeCompare(b.step));
  const image = found[0];
  if (!image) throw badInput(`step "${ctx.step.id}": none of the steps it needs (${Object.keys(ctx.inputs).join(', ')}) built a bootable disk image (${DISK_FORMATS.join(' or ')})`);
  return image;
}

/** TCG always: KVM fails on our hosts (see activities/vm/kvm.ts). */
async function qemuArgv(w: WriterContext, arch: Arch, image: BootableImage, disk: string, consoleLog: string, extra: string[], snapshot: boolean, projectRoot: string): Promise<string[]> {
  const enrolled = image.secureBootCert !== undefined ? await enrolledVars(w, arch, image.secureBootCert, projectRoot) : undefined;
  const argv = [
    ...qemuBootArgv({ arch, accel: 'tcg', consoleLog, who: 'the debian toolchain' }),
    ...bootDiskArgv(arch, { path: disk, format: diskImageFormat(image.format), snapshot }),
    ...extra,
    ...(image.secureBoot ? await secureBootFirmwareArgv(arch, w.workDir, enrolled) : []),
  ];
  if (image.bootloader === 'none') {
    // No boot loader in the image (foreign arches for now): start its own kernel directly.
    if (!image.kernel) throw badInput(`boot test: the ${arch} image has no boot loader and its build recorded no kernel`);
    const raw = diskImageFormat(image.format) === 'qcow2' ? await toRaw(w, image.path) : image.path;
    const kernel = await extract(w, raw, image.rootOffsetBytes, image.kernel, 'vmlinuz');
    argv.push('-kernel', kernel, '-append', image.cmdline);
    if (image.initrd) argv.push('-initrd', await extract(w, raw, image.rootOffsetBytes, image.initrd, 'initrd.img'));
  }
  return argv;
}

async function toRaw(w: WriterContext, qcow2: string): Promise<string> {
  const out = path.join(w.workDir, 'boot-source.img');
  await w.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', qcow2, out]);
  return out;
}

/** A file of the image's root file system, read with debugfs (no mount, no loop device). */
async function extract(w: WriterContext, disk: string, offset: number, rel: string, name: string): Promise<string> {
  const out = path.join(w.workDir, name);
  await w.run(['debugfs', '-R', `dump -p /${rel} ${out}`, `${disk}?offset=${offset}`]);
  const st = await fs.stat(out).catch(() => undefined);
  if (!st || st.size === 0) throw badInput(`boot test: /${rel} is not in the image's root file system`);
  return out;
}

/** Quotes one argument for /bin/sh: everything inside single quotes is literal. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function injectHarness(w: WriterContext, disk: string, offset: number, test: RunTest, nonce: string): Promise<void> {
  const dir = path.join(w.workDir, 'harness');
  await fs.mkdir(dir);
  const seconds = Math.max(1, Math.floor(test.timeoutMs / 1000));
  const script = [
    '#!/bin/sh',
    '# sborka run-test harness: written into a throw-away copy of the image, never into the image itself.',
    'out=/run/sborka-test',
    'mkdir -p "$out"',
    `timeout ${seconds} systemctl is-system-running --wait >"$out/boot-state" 2>&1`,
    'cd /root 2>/dev/null || cd /',
    // POSIX sh has no pipefail: the command's own status leaves the pipeline through a file.
    `{ timeout ${seconds} ${test.argv.map(shellQuote).join(' ')} </dev/null 2>"$out/stderr"; echo $? >"$out/exit-code"; } | head -c ${MAX_COMMAND_OUTPUT} >"$out/stdout"`,
    '',
    'dev=',
    'for d in /sys/block/*; do [ "$(cat "$d/serial" 2>/dev/null)" = sborka-results ] && dev="/dev/${d##*/}"; done',
    'tar -C "$out" -cf "$dev" . && sync',
    `echo "SBORKA-RUN-DONE-${nonce}" >/dev/console`,
    '',
  ];
  const unit = [
    '[Unit]',
    'Description=sborka run test',
    'After=multi-user.target',
    '',
    '[Service]',
    // exec, not oneshot: boot must finish (is-system-running) while the harness waits for it.
    'Type=exec',
    'ExecStart=/bin/sh /var/lib/sborka-test/run.sh',
    '',
  ];
  await fs.writeFile(path.join(dir, 'run.sh'), script.join('\n'), { mode: 0o755 });
  await fs.writeFile(path.join(dir, 'sborka-test.service'), unit.join('\n'), { mode: 0o644 });
  const wants = '/etc/systemd/system/multi-user.target.wants';
  const cmds = [
    'mkdir /var/lib/sborka-test',
    `write ${path.join(dir, 'run.sh')} /var/lib/sborka-test/run.sh`,
    `write ${path.join(dir, 'sborka-test.service')} /etc/systemd/system/sborka-test.service`,
    'mkdir /etc/systemd/system',
    `mkdir ${wants}`,
    `symlink ${wants}/sborka-test.service /etc/systemd/system/sborka-test.service`,
  ];
  const cmdFile = path.join(dir, 'inject.debugfs');
  await fs.writeFile(cmdFile, `${cmds.join('\n')}\n`);
  await w.runQuiet(['debugfs', '-w', '-f', cmdFile, `${disk}?offset=${offset}`], path.join(dir, 'debugfs.log'));
  const check = path.join(dir, 'check.log');
  await w.runQuiet(['debugfs', '-R', `stat ${wants}/sborka-test.service`, `${disk}?offset=${offset}`], check);
  if (!(await fs.readFile(check, 'utf8')).includes('Type: symlink')) {
    throw stepFailed(`run test: could not install the test harness into the image copy; debugfs said:\n${await fs.readFile(path.join(dir, 'debugfs.log'), 'utf8')}`);
  }
}
