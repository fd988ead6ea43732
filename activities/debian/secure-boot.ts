// UEFI Secure Boot on the debian toolchain: the image boots through Debian's signed chain,
// taken from the root (so from the lock): shim (signed by the Microsoft UEFI CA, package
// shim-signed) as the removable-media loader EFI/BOOT/BOOTX64.EFI, Debian's signed monolithic
// GRUB beside it (grub-efi-amd64-signed), and the root's kernel, which GRUB has shim verify.
// Nothing is signed here, so no key is ever read; a kernel Debian did not sign is refused
// before any disk is written, with the reason.
//
// The boot test boots such an image with OVMF's Secure Boot build and the Microsoft keys
// enrolled (q35 with SMM, so the variable store is only writable by the firmware).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../plan/plan';
import { badInput } from '../failures';
import { qemuPath } from '../vm/boot-console';
import { clampTime, type WriterContext } from './writers/common';

/** Where Debian's signed packages put the chain, relative to the root, per arch. */
export const SIGNED_CHAIN: Partial<Record<Arch, { shim: string; grub: string; loader: string; packages: string }>> = {
  x86_64: {
    shim: 'usr/lib/shim/shimx64.efi.signed',
    grub: 'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed',
    loader: 'BOOTX64.EFI',
    packages: 'shim-signed grub-efi-amd64-signed',
  },
};

/** Debian's signing CA: the kernel and GRUB carry a signature it issued, which shim's built-in cert checks. */
const DEBIAN_CA = '/CN=Debian Secure Boot CA';

/** The EFI system partition's FAT (16: FAT32 needs 65525 clusters, far more than this holds): shim (1 MiB) and GRUB (4 MiB) with room to spare. */
export const ESP_BYTES = 32 * 1024 * 1024;

export interface EspRequest {
  arch: Arch;
  root: string;
  kernel: string;
  /** The root file system's UUID: GRUB finds the root's /boot/grub/grub.cfg by it. */
  rootUuid: string;
  /** The FAT volume id (8 hex digits), derived from the plan. */
  volumeId: string;
  epoch: number;
}

/** The issuers of each signature `sbverify --list` finds on a PE file (none: unsigned). */
export function signatureIssuers(listing: string): string[] {
  return listing.split('\n').map((l) => /^\s*issuer:\s+(.*)$/.exec(l)?.[1]?.trim()).filter((x): x is string => x !== undefined);
}

async function issuersOf(w: WriterContext, file: string, name: string): Promise<string[]> {
  const log = path.join(w.workDir, `sbverify-${name}.log`);
  await w.runQuiet(['sbverify', '--list', file], log);
  return signatureIssuers(await fs.readFile(log, 'utf8'));
}

/** Refuses a root whose chain Secure Boot would not load: missing shim or GRUB, or a kernel Debian did not sign. */
export async function checkSignedChain(w: WriterContext, req: Pick<EspRequest, 'arch' | 'root' | 'kernel'>): Promise<void> {
  const chain = SIGNED_CHAIN[req.arch];
  if (!chain) throw badInput(`secure-boot: the debian toolchain lays out no signed chain for ${req.arch}`);
  for (const rel of [chain.shim, chain.grub]) {
    if (!(await fs.stat(path.join(req.root, rel)).catch(() => undefined))?.isFile()) {
      throw badInput(`secure-boot: the root has no /${rel}; add Debian's signed boot packages (${chain.packages}) to the recipe's packages`);
    }
  }
  const kernelPath = path.join(req.root, req.kernel);
  const st = await fs.lstat(kernelPath).catch(() => undefined);
  if (!st?.isFile()) throw badInput(`secure-boot: the kernel /${req.kernel} is not a regular file in the root`);
  const issuers = await issuersOf(w, kernelPath, 'kernel');
  if (!issuers.some((i) => i.includes(DEBIAN_CA))) {
    const seen = issuers.length === 0 ? 'it carries no signature' : `it is signed by ${issuers.join(', ')}`;
    throw badInput(`secure-boot: the kernel /${req.kernel} is not signed by Debian (${seen}); shim would refuse to start it. Use a Debian linux-image-* kernel (signed in bookworm), or drop secure-boot`);
  }
}

/** GRUB's config on the ESP: find the root by its UUID and read the root's own menu (the BIOS boot's too). */
export function espGrubConfig(rootUuid: string): string {
  return [
    '# Written by sborka: the menu is the root file system\'s, found by its UUID.',
    `search --no-floppy --fs-uuid --set=root ${rootUuid}`,
    'set prefix=($root)/boot/grub',
    'configfile $prefix/grub.cfg',
    '',
  ].join('\n');
}

/**
 * Writes the ESP's FAT image (file `fat`): shim as the removable-media loader, the signed GRUB
 * beside it (shim loads grubx64.efi from its own directory), and GRUB's config where the signed
 * image looks (its prefix EFI/debian, and beside itself). Every date is the lock's.
 */
export async function writeEsp(w: WriterContext, req: EspRequest, fat: string): Promise<void> {
  const chain = SIGNED_CHAIN[req.arch]!;
  const dir = path.join(w.workDir, 'esp');
  await fs.mkdir(dir, { recursive: true });
  const files = { shim: path.join(dir, chain.loader), grub: path.join(dir, 'grubx64.efi'), cfg: path.join(dir, 'grub.cfg') };
  await fs.copyFile(path.join(req.root, chain.shim), files.shim);
  await fs.copyFile(path.join(req.root, chain.grub), files.grub);
  await fs.writeFile(files.cfg, espGrubConfig(req.rootUuid));
  for (const f of Object.values(files)) await clampTime(f, req.epoch);
  const env = { SOURCE_DATE_EPOCH: String(req.epoch), MTOOLS_SKIP_CHECK: '1' };
  w.progress({ phase: 'EFI system partition' });
  await w.run(['mkfs.fat', '-C', '--invariant', '-F', '16', '-i', req.volumeId, '-n', 'EFI', fat, String(ESP_BYTES / 1024)], { env });
  await w.run(['mmd', '-i', fat, '::/EFI', '::/EFI/BOOT', '::/EFI/debian'], { env });
  await w.run(['mcopy', '-m', '-i', fat, files.shim, `::/EFI/BOOT/${chain.loader}`], { env });
  await w.run(['mcopy', '-m', '-i', fat, files.grub, '::/EFI/BOOT/grubx64.efi'], { env });
  await w.run(['mcopy', '-m', '-i', fat, files.cfg, '::/EFI/BOOT/grub.cfg'], { env });
  await w.run(['mcopy', '-m', '-i', fat, files.cfg, '::/EFI/debian/grub.cfg'], { env });
}

/** The ESP of a `secure-boot key` image: its FAT holds room for the unified kernel image and a quarter more. */
export function espBytesFor(ukiBytes: number): number {
  const MiB = 1024 * 1024;
  return Math.max(ESP_BYTES, Math.ceil((ukiBytes * 1.25 + 4 * MiB) / MiB) * MiB);
}

/** Writes the ESP of a `secure-boot key` image: the signed unified kernel image is the removable-media loader, alone. */
export async function writeKeyEsp(w: WriterContext, req: { uki: string; volumeId: string; epoch: number; bytes: number }, fat: string): Promise<void> {
  const env = { SOURCE_DATE_EPOCH: String(req.epoch), MTOOLS_SKIP_CHECK: '1' };
  w.progress({ phase: 'EFI system partition' });
  await w.run(['mkfs.fat', '-C', '--invariant', '-F', '16', '-i', req.volumeId, '-n', 'EFI', fat, String(req.bytes / 1024)], { env });
  await w.run(['mmd', '-i', fat, '::/EFI', '::/EFI/BOOT'], { env });
  await w.run(['mcopy', '-m', '-i', fat, req.uki, '::/EFI/BOOT/BOOTX64.EFI'], { env });
}

/** OVMF's Secure Boot build with the Microsoft keys enrolled (Debian's ovmf package). */
const SECURE_FIRMWARE: Partial<Record<Arch, { code: string; vars: string; pkg: string }>> = {
  x86_64: { code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd', pkg: 'ovmf' },
};

/**
 * qemu options that boot with Secure Boot enforced: q35 with SMM (OVMF's secboot build needs
 * it, and only SMM code may then write the variable store), the code read-only and a fresh
 * copy of the variable store. They come after qemuBootArgv's, whose -machine they override.
 */
export async function secureBootFirmwareArgv(arch: Arch, workDir: string, enrolled?: string): Promise<string[]> {
  const fw = SECURE_FIRMWARE[arch];
  if (!fw) throw badInput(`boot test: no Secure Boot firmware is known for ${arch}`);
  const vars = enrolled ?? path.join(workDir, `uefi-secure-vars-${arch}.fd`);
  try {
    if (!enrolled) await fs.copyFile(fw.vars, vars);
    await fs.access(fw.code);
  } catch {
    throw badInput(`boot test: Secure Boot firmware for ${arch} is missing (${fw.code}, ${fw.vars}): install Debian's ${fw.pkg} package`);
  }
  return [
    '-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on',
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${qemuPath(fw.code)}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${qemuPath(vars)}`,
  ];
}

/** The owner GUID of the certs the boot test enrolls (any fixed one: the firmware only records it). */
const ENROLL_OWNER = '5b0a7c1e-2f30-4c6e-9d1f-a0c6b7e45b1e';

/** virt-firmware's virt-fw-vars (PyPI; bookworm has no python3-virt-firmware): `scripts/setup --tests` installs it here. */
export const virtFwVars = (projectRoot: string): string => path.join(projectRoot, '.tools', 'virt-firmware', 'bin', 'virt-fw-vars');

/**
 * A fresh variable store for a `secure-boot key` image: OVMF's, with the Microsoft keys, and
 * the image's cert added to db, so that the firmware starts what that key signed (and still
 * refuses what another key signed). Secure Boot stays enforced: PK and KEK are untouched.
 */
export async function enrolledVars(w: Pick<WriterContext, 'workDir' | 'runQuiet'>, arch: Arch, certPem: string, projectRoot: string): Promise<string> {
  const fw = SECURE_FIRMWARE[arch];
  if (!fw) throw badInput(`boot test: no Secure Boot firmware is known for ${arch}`);
  const tool = virtFwVars(projectRoot);
  if (!(await fs.access(tool).then(() => true, () => false))) throw badInput(`boot test: ${tool} is missing; \`scripts/setup --tests\` installs virt-firmware there`);
  const cert = path.join(w.workDir, 'enroll-db.crt');
  await fs.writeFile(cert, certPem);
  const out = path.join(w.workDir, `uefi-secure-vars-${arch}-enrolled.fd`);
  await w.runQuiet([tool, '--input', fw.vars, '--add-db', ENROLL_OWNER, cert, '--output', out], path.join(w.workDir, 'virt-fw-vars.log'));
  return out;
}

/**
 * The ISO as a CD on virtio-scsi for the Secure Boot machine: q35's own CD bus is AHCI, which
 * Debian's cloud kernel has no driver for (the pc machine's IDE it has); OVMF boots from
 * virtio-scsi as well.
 */
export function secureCdromArgv(iso: string): string[] {
  return [
    '-device', 'virtio-scsi-pci,id=scsi',
    '-drive', `file=${qemuPath(iso)},format=raw,if=none,id=cd,media=cdrom,readonly=on`,
    '-device', 'scsi-cd,drive=cd,bus=scsi.0,bootindex=0',
  ];
}
