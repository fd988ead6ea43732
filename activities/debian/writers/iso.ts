// `iso`: a hybrid live ISO of the configured root, x86_64. The same file boots from a CD
// (El Torito: GRUB for BIOS and a FAT image with GRUB for UEFI) and from a disk (a USB
// stick: boot_hybrid.img in the MBR for BIOS, the FAT image as an appended EFI partition
// for UEFI). The root is a squashfs (the squashfs writer's flags) under a tmpfs overlay,
// mounted by our own boot script in the root's own initramfs (iso-live.ts says why).
//
// Reproducibility: every date is the lock's SOURCE_DATE_EPOCH (xorriso reads it for the
// volume dates and the GPT disk GUID default; every file's mtime is clamped to it), the
// marker UUID and the GPT GUID come from the plan, the FAT image has a fixed serial, ISO
// directory records are sorted by name and the boot images are placed first.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { badInput } from '../../failures';
import { clampTime, derivedUuid, finish, unpackRoot, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';
import { findBootFile, SERIAL_CONSOLE } from './img';
import { BIOS_IMAGE, EFI_IMAGE, grubConfig, HYBRID_MBR, writeBootImages } from './iso-boot';
import { LIVE_BOOT, LIVE_DIR, liveInitrd, markerPath, SQUASHFS_NAME } from './iso-live';
import { checkSignedChain, SIGNED_CHAIN } from '../secure-boot';
import { mksquashfs } from './squashfs';

/** ISO 9660 volume ids: 32 characters. */
const VOLUME_ID_MAX = 32;

export async function writeIso(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  if (req.arch !== 'x86_64') throw badInput(`iso: the debian toolchain writes ISOs for x86_64 only, not ${req.arch}`);
  const serial = SERIAL_CONSOLE[req.arch]!;
  const epoch = src.sourceDateEpoch;
  const root = path.join(w.workDir, 'root');
  await unpackRoot(w, src, root);
  const kernel = src.kernel ?? (await findBootFile(root, 'vmlinuz-'));
  const initrd = src.initrd ?? (await findBootFile(root, 'initrd.img-'));
  if (!kernel || !initrd) throw badInput('iso: the root has no kernel and initramfs in /boot (the recipe needs a `kernel` and initramfs-tools); a live ISO boots them');
  const release = path.basename(kernel).replace(/^vmlinuz-/, '');
  // Secure Boot: the signed chain is checked and taken out of the root before the root goes.
  const secureBoot = req.output.secureBoot === true;
  let signed: { shim: string; grub: string } | undefined;
  if (secureBoot) {
    await checkSignedChain(w, { arch: req.arch, root, kernel });
    const chain = SIGNED_CHAIN[req.arch]!;
    signed = { shim: path.join(w.workDir, 'shim.efi'), grub: path.join(w.workDir, 'grub.efi') };
    await fs.copyFile(path.join(root, chain.shim), signed.shim);
    await fs.copyFile(path.join(root, chain.grub), signed.grub);
  }

  const uuid = derivedUuid(req.seed, 'live medium');
  const label = req.output.label ?? defaultLabel(req.fileName);
  const volumeId = volumeIdOf(label);
  const tree = path.join(w.workDir, 'iso');
  const live = path.join(tree, LIVE_DIR);
  await fs.mkdir(live, { recursive: true });

  w.progress({ phase: 'live initramfs' });
  await fs.copyFile(path.join(root, kernel), path.join(live, 'vmlinuz'));
  await fs.writeFile(path.join(live, 'initrd.img'), await liveInitrd(root, initrd, release, uuid));
  await mksquashfs(w, root, path.join(live, SQUASHFS_NAME), 'zstd', epoch);
  await fs.rm(root, { recursive: true, force: true });

  const marker = markerPath(uuid);
  await fs.mkdir(path.join(tree, path.dirname(marker)), { recursive: true });
  await fs.writeFile(path.join(tree, marker), `${label}\n`);
  // Debian's signed GRUB finds its medium by /.disk/info, as on Debian's own ISOs.
  if (secureBoot) await fs.writeFile(path.join(tree, '.disk', 'info'), `${label}\n`);
  const cmdline = `boot=${LIVE_BOOT} console=tty0 console=${serial},115200n8`;
  await writeBootImages(w, tree, marker, epoch, signed);
  await fs.writeFile(path.join(tree, 'boot/grub/grub.cfg'), grubConfig({ title: label.replace(/[^A-Za-z0-9 ._-]/g, '_'), kernel: `${LIVE_DIR}/vmlinuz`, initrd: `${LIVE_DIR}/initrd.img`, cmdline, marker }));
  await clampTree(tree, epoch);

  w.progress({ phase: 'xorriso' });
  const out = path.join(w.workDir, 'image.iso');
  await w.run([
    'xorriso', '-as', 'mkisofs', '-o', out, '-V', volumeId, '-volset', uuid, '-r', '-J', '-joliet-long',
    '--modification-date=' + isoDate(epoch), '--gpt_disk_guid', derivedUuid(req.seed, 'gpt disk'),
    // BIOS: El Torito no-emulation GRUB, and the same through the MBR on a disk.
    '-b', BIOS_IMAGE, '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info', '--grub2-mbr', HYBRID_MBR,
    // UEFI: the FAT image as El Torito's EFI entry and as an appended EFI system partition.
    '--efi-boot', EFI_IMAGE, '-efi-boot-part', '--efi-boot-image', '--protective-msdos-label',
    '-c', 'boot/boot.cat', '--sort-weight', '0', '/', '--sort-weight', '1', '/boot', tree,
  ], { env: { SOURCE_DATE_EPOCH: String(epoch) } });
  return finish(out, outputsDir, req.fileName, 'iso', {
    label, volumeId, liveUuid: uuid, kernel, initrd, cmdline, console: serial, bootloader: 'grub-hybrid', live: LIVE_BOOT,
    ...(secureBoot ? { secureBoot: 'debian-signed' } : {}),
  });
}

/** The file name without its extension (it holds the product, version and arch). */
export function defaultLabel(fileName: string): string {
  return fileName.replace(/\.iso$/, '').slice(0, VOLUME_ID_MAX);
}

/** ISO 9660 d-characters: upper-case letters, digits and underscore. */
export function volumeIdOf(label: string): string {
  return label.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, VOLUME_ID_MAX);
}

/** xorriso's YYYYMMDDhhmmsscc, UTC. */
export function isoDate(epoch: number): string {
  return `${new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}00`;
}

async function clampTree(dir: string, epoch: number): Promise<void> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await clampTree(p, epoch);
    await clampTime(p, epoch);
  }
  await clampTime(dir, epoch);
}
