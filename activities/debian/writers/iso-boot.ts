// The live ISO's boot loaders, made from the build host's GRUB without grub-mkrescue (which
// picks its own dates, file order and module set): a BIOS El Torito image (i386-pc-eltorito,
// also reached through boot_hybrid.img in the MBR when the ISO is a USB stick's disk), and a
// standalone x86_64 EFI image in a FAT file system that is both the El Torito EFI entry and
// an appended partition. Both carry an early config that finds the ISO by its marker file,
// so the same config serves a CD drive and a disk.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { clampTime, type WriterContext } from './common';

const GRUB_LIB = '/usr/lib/grub';
const COMMON_MODULES = ['iso9660', 'part_msdos', 'part_gpt', 'normal', 'linux', 'serial', 'terminal', 'echo', 'test', 'search', 'search_fs_file', 'configfile', 'gzio', 'sleep'];
const BIOS_MODULES = ['biosdisk', ...COMMON_MODULES];
const EFI_MODULES = ['fat', 'efi_gop', 'efi_uga', 'all_video', ...COMMON_MODULES];
/** The FAT image of the EFI partition: room for the EFI binary and a margin. */
const EFI_FAT_KIB = 8 * 1024;

export const BIOS_IMAGE = 'boot/grub/bios.img';
export const EFI_IMAGE = 'boot/grub/efi.img';
export const HYBRID_MBR = path.join(GRUB_LIB, 'i386-pc', 'boot_hybrid.img');

export interface GrubMenu {
  /** The menu entry's title (the label; checked to hold no quote). */
  title: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  marker: string;
}

/** The embedded config: find the medium by its marker, then read the ISO's grub.cfg. */
function earlyConfig(marker: string): string {
  return [`search --no-floppy --set=root --file /${marker}`, 'set prefix=($root)/boot/grub', 'configfile $prefix/grub.cfg', ''].join('\n');
}

export function grubConfig(m: GrubMenu): string {
  return [
    '# Written by sborka: the live system, its console on the serial line and the screen.',
    'set timeout=3',
    'serial --unit=0 --speed=115200',
    'terminal_input serial console',
    'terminal_output serial console',
    `menuentry '${m.title}' {`,
    `  linux /${m.kernel} ${m.cmdline}`,
    `  initrd /${m.initrd}`,
    '}',
    '',
  ].join('\n');
}

/**
 * Writes bios.img and efi.img into the ISO tree at tree/boot/grub. With `signed` (Secure Boot,
 * secure-boot.ts), the FAT image holds Debian's signed shim as the loader and its signed GRUB
 * beside it instead of our own EFI GRUB: that GRUB's built-in config finds the medium by
 * /.disk/info (the caller writes it) and reads the same /boot/grub/grub.cfg.
 */
export async function writeBootImages(w: WriterContext, tree: string, marker: string, epoch: number, signed?: { shim: string; grub: string }): Promise<void> {
  const dir = path.join(w.workDir, 'grub');
  await fs.mkdir(dir, { recursive: true });
  const early = path.join(dir, 'early.cfg');
  await fs.writeFile(early, earlyConfig(marker));
  w.progress({ phase: 'grub images' });
  const bios = path.join(tree, BIOS_IMAGE);
  await fs.mkdir(path.dirname(bios), { recursive: true });
  await w.run(['grub-mkimage', '--directory', path.join(GRUB_LIB, 'i386-pc'), '--format', 'i386-pc-eltorito', '--config', early, '--prefix', '/boot/grub', '--output', bios, ...BIOS_MODULES]);
  const efiBinary = path.join(dir, 'BOOTX64.EFI');
  if (signed) await fs.copyFile(signed.shim, efiBinary);
  else await w.run(['grub-mkimage', '--directory', path.join(GRUB_LIB, 'x86_64-efi'), '--format', 'x86_64-efi', '--config', early, '--prefix', '/boot/grub', '--output', efiBinary, ...EFI_MODULES]);
  await clampTime(efiBinary, epoch);

  // FAT with a fixed volume id and serial, every date the lock's (mkfs.fat and mtools read
  // SOURCE_DATE_EPOCH; mcopy -m keeps the clamped mtime of the binary).
  const fat = path.join(tree, EFI_IMAGE);
  const env = { SOURCE_DATE_EPOCH: String(epoch), MTOOLS_SKIP_CHECK: '1' };
  await w.run(['mkfs.fat', '-C', '--invariant', '-i', 'ef150b00', '-n', 'EFIBOOT', fat, String(EFI_FAT_KIB)], { env });
  await w.run(['mmd', '-i', fat, '::/EFI', '::/EFI/BOOT'], { env });
  await w.run(['mcopy', '-m', '-i', fat, efiBinary, '::/EFI/BOOT/BOOTX64.EFI'], { env });
  if (signed) {
    const grub = path.join(dir, 'grubx64.efi');
    await fs.copyFile(signed.grub, grub);
    await clampTime(grub, epoch);
    await w.run(['mcopy', '-m', '-i', fat, grub, '::/EFI/BOOT/grubx64.efi'], { env });
  }
}
