// The alt toolchain's boot test: the image mkimage-profiles built, booted by qemu-system on
// the build host itself (a host package, not inside hasher) until the test's text shows on
// its serial console. vm-run cannot do this: it boots the host's kernel over a 9p root,
// never the image.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { type BuiltBy, type DiskFormat, diskImageFormat, FORMATS, formatsBuiltBy } from '../../plan/formats';
import type { Test } from '../../plan/model';
import type { Arch } from '../../plan/plan';
import { badInput } from '../failures';
import type { KindContext, KindResult } from '../kinds/registry';
import { appendLogLines } from '../step-log';
import type { StoreEntry } from '../store';
import { bootDiskArgv, expectOnConsole, qemuBootArgv, type BootMedium } from '../vm/boot-console';
import { chooseAccel, detectKvm, hostVmArch, type KvmStatus } from '../vm/kvm';
import type { Accel } from '../vm/qemu';
import { bootFirmware, type BootFirmware } from './firmware';
import type { AltHost } from './host';

type BootTest = Extract<Test, { type: 'boot' }>;

/** What the alt build kind records (kinds.ts buildKind): the file in its outputs and the m-p target. */
const BuiltImageValues = z.looseObject({ image: z.string(), target: z.string() });

/** An m-p image type that boots, and how qemu takes it. */
interface BootableType {
  type: string;
  medium: 'raw' | 'qcow2' | 'iso';
  /** An xz-compressed raw disk, unpacked before booting. */
  xz?: true;
}

/**
 * m-p image types that boot (the alt formats plan/formats.ts boots from a disk or a cdrom;
 * m-p names them by their extension), in the order one is chosen when a test needs several
 * builds: disks, then raw disks m-p compressed with xz, before the ISO, whose installer or
 * live menu may never reach the expected text.
 */
const ALT_FORMATS = formatsBuiltBy('alt');
const ALT_DISKS = ALT_FORMATS.filter((f): f is BuiltBy<'alt'> & DiskFormat => FORMATS[f].boot === 'disk');
const BOOTABLE_TYPES: readonly BootableType[] = [
  ...ALT_DISKS.map((f): BootableType => ({ type: FORMATS[f].extension, medium: diskImageFormat(f) })),
  ...ALT_DISKS.filter((f) => diskImageFormat(f) === 'raw').map((f): BootableType => ({ type: `${FORMATS[f].extension}.xz`, medium: 'raw', xz: true })),
  ...ALT_FORMATS.filter((f) => FORMATS[f].boot === 'cdrom').map((f): BootableType => ({ type: FORMATS[f].extension, medium: 'iso' })),
];

export interface BuiltImage {
  step: string;
  path: string;
  file: string;
  /** `<class>/<name>.<type>` as m-p made it. */
  target: string;
  type: BootableType;
  sha256?: string;
}

/** The build input to boot: the first of BOOTABLE_TYPES among the steps the test needs. */
export function builtImage(stepId: string, inputs: Record<string, StoreEntry>): BuiltImage {
  const found: BuiltImage[] = [];
  for (const [step, entry] of Object.entries(inputs)) {
    const values = BuiltImageValues.safeParse(entry.manifest.outputs.values);
    if (!values.success) continue;
    const type = BOOTABLE_TYPES.find((t) => values.data.target.endsWith(`.${t.type}`));
    if (!type) continue;
    const sha256 = entry.manifest.outputs.files.find((f) => f.path === values.data.image)?.sha256;
    found.push({ step, path: path.join(entry.outputsDir, values.data.image), file: values.data.image, target: values.data.target, type, sha256 });
  }
  const rank = (i: BuiltImage) => BOOTABLE_TYPES.indexOf(i.type);
  found.sort((a, b) => rank(a) - rank(b) || a.step.localeCompare(b.step));
  const image = found[0];
  if (!image) {
    throw badInput(`step "${stepId}": none of the steps it needs (${Object.keys(inputs).join(', ') || 'none'}) built a bootable image (${BOOTABLE_TYPES.map((t) => t.type).join(', ')})`);
  }
  return image;
}

/**
 * KVM only when it really works: /dev/kvm may exist and still fail (see vm/kvm.ts), so
 * unless the host turns KVM off, the probe boots a guest first; a probe that cannot run
 * (no kernel to boot, no mirror) means TCG too. `hostKvm` 'yes' says hasher may have
 * /dev/kvm, not that qemu on the host can use it, so it is probed as well.
 */
export async function chooseBootAccel(hostKvm: AltHost['kvm'], arch: Arch, probe: () => Promise<KvmStatus>, host = hostVmArch()): Promise<{ accel: Accel; reason: string }> {
  if (hostKvm === 'no') return { accel: 'tcg', reason: 'KVM is turned off for this host (SBORKA_ALT_KVM=no)' };
  // A 64-bit x86 host runs 32-bit x86 guests under KVM.
  const guest = arch === 'i586' ? 'x86_64' : arch;
  if (guest !== host) return { accel: 'tcg', reason: `KVM cannot run a ${arch} guest on a ${host ?? process.arch} host` };
  let status: KvmStatus;
  try {
    status = await probe();
  } catch (err) {
    return { accel: 'tcg', reason: `the KVM probe could not run (${(err as Error).message}); using TCG` };
  }
  const choice = chooseAccel('try', host, status);
  return choice.run ? { accel: choice.accel, reason: choice.reason } : { accel: 'tcg', reason: choice.reason };
}

/** The whole qemu command line of an alt boot test. */
export function altBootArgv(o: { arch: Arch; accel: Accel; consoleLog: string; medium: BootMedium; firmware: BootFirmware }): string[] {
  return [
    ...qemuBootArgv({ arch: o.arch, accel: o.accel, consoleLog: o.consoleLog, bios: o.firmware.bios, who: 'the alt toolchain' }),
    ...(o.firmware.loader ? ['-kernel', o.firmware.loader] : []),
    ...bootDiskArgv(o.arch, o.medium),
  ];
}

/** The image as qemu reads it: as stored, or an img.xz unpacked into the work directory. */
async function bootMedium(ctx: KindContext, image: BuiltImage): Promise<BootMedium> {
  const t = image.type;
  if (t.medium === 'iso') return { path: image.path, format: 'iso' };
  if (!t.xz) return { path: image.path, format: t.medium, snapshot: true };
  // xz writes a sparse disk; --force lets it read through the link into the store, --keep leaves the store alone.
  const link = path.join(ctx.workDir, image.file.endsWith('.xz') ? image.file : `${image.file}.xz`);
  await fs.symlink(image.path, link);
  ctx.progress({ phase: 'unpacking image' });
  await ctx.run(['xz', '--decompress', '--keep', '--force', '--threads=1', link]);
  return { path: link.slice(0, -'.xz'.length), format: 'raw', snapshot: false };
}

/** Boots the built image and waits for test.expect on the console. Outputs: console.log, result.json. */
export async function runAltBootTest(ctx: KindContext, host: AltHost, arch: Arch, test: BootTest): Promise<KindResult> {
  const image = builtImage(ctx.step.id, ctx.inputs);
  let firmware: BootFirmware;
  try {
    firmware = bootFirmware(arch);
  } catch (err) {
    throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
  }
  const { accel, reason } = await chooseBootAccel(host.kvm, arch, () => detectKvm({ stateDir: ctx.config.stateDir, logger: ctx.logger }));
  await appendLogLines(ctx.logPath, [`--- sborka: booting ${image.file} (${image.target}, from step "${image.step}") with -accel ${accel}: ${reason}`]);
  const medium = await bootMedium(ctx, image);
  const consoleLog = path.join(ctx.workDir, 'console.log');
  const argv = altBootArgv({ arch, accel, consoleLog, medium, firmware });
  const run = await expectOnConsole(ctx, {
    argv, consoleLog, expect: test.expect, timeoutMs: test.timeoutMs,
    result: { arch, accel, accelReason: reason, image: { step: image.step, file: image.file, target: image.target, sha256: image.sha256 } },
  });
  return { values: { passed: true, elapsedMs: run.elapsedMs, image: image.sha256, accel } };
}
