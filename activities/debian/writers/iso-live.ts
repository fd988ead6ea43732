// How the live ISO's kernel finds its root: our own boot script for the root's own
// initramfs-tools initramfs, not Debian's live-boot. live-boot would have to be installed into
// the product (the recipe's package set would no longer be what the recipe says) and brings
// its own hooks and udev rules; the script below is about forty lines. It goes in as a second
// cpio archive appended to the root's initrd (the kernel unpacks concatenated archives in
// order), together with the modules it needs that the root's initrd lacks (squashfs and
// overlay are not in initramfs-tools' MODULES=most). `boot=sborka-live` on the command line
// makes initramfs-tools' /init source /scripts/sborka-live, whose mountroot() finds the ISO
// by a marker file named by the plan's UUID (on a CD-ROM, or on a disk when the ISO was
// written to a USB stick), loops its squashfs (klibc losetup has no -r: it falls back to read-only on the read-only medium) and mounts an overlay with a tmpfs upper layer
// at ${rootmnt}. The tools are the initrd's klibc ones (mount, losetup, insmod, sleep).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { badInput } from '../../failures';
import { CpioWriter, moduleClosure, readModule } from '../../vm/initramfs';

/** initramfs-tools' boot script name: `boot=NAME` sources /scripts/NAME. */
export const LIVE_BOOT = 'sborka-live';
/** Where the ISO holds the root, kernel and initrd. */
export const LIVE_DIR = 'live';
export const SQUASHFS_NAME = 'filesystem.squashfs';
/** The marker file the boot script and GRUB look for: /.disk/sborka-live-<uuid>. */
export const markerPath = (uuid: string): string => `.disk/sborka-live-${uuid}`;

/** Without these the live root cannot be mounted at all. */
const REQUIRED_MODULES = ['isofs', 'loop', 'squashfs', 'overlay'];
/** Where the ISO may sit: CD drives (IDE, SCSI, virtio), USB sticks, virtio and NVMe disks. Loaded when the kernel ships them. */
const OPTIONAL_MODULES = ['cdrom', 'sr_mod', 'ata_piix', 'ata_generic', 'ahci', 'virtio_pci', 'virtio_scsi', 'virtio_blk', 'sd_mod', 'usb_storage', 'uas', 'xhci_pci', 'ehci_pci', 'nvme'];

// Sourced by initramfs-tools' /init (after /scripts/local, whose mount_top & co. stay). No
// value from the recipe reaches it: the UUID is hex and dashes, checked by the caller.
export function liveScript(uuid: string): string {
  return `# sborka live root: the ISO's squashfs under a tmpfs overlay (written by sborka).
sborka_find_medium()
{
	for dev in /dev/sr* /dev/vd? /dev/sd? /dev/nvme?n? /dev/hd?; do
		[ -b "$dev" ] || continue
		mount -t iso9660 -o ro "$dev" /run/sborka/medium 2>/dev/null || continue
		[ -e /run/sborka/medium/${markerPath(uuid)} ] && return 0
		umount /run/sborka/medium
	done
	return 1
}

mountroot()
{
	for m in $(cat /sborka/modules.order); do
		insmod "/sborka/modules/$m" 2>/dev/null
	done
	mkdir -p /run/sborka/medium /run/sborka/ro /run/sborka/rw
	n=0
	until sborka_find_medium; do
		n=$((n + 1))
		[ "$n" -gt 60 ] && panic "sborka-live: no device holds the live medium ${uuid}"
		sleep 1
	done
	echo "sborka-live: live medium found"
	loop=$(losetup -f) || panic "sborka-live: no free loop device"
	losetup "$loop" /run/sborka/medium/${LIVE_DIR}/${SQUASHFS_NAME} || panic "sborka-live: cannot attach the squashfs"
	mount -t squashfs -o ro "$loop" /run/sborka/ro || panic "sborka-live: cannot mount the squashfs"
	mount -t tmpfs -o mode=0755 tmpfs /run/sborka/rw || panic "sborka-live: cannot mount the tmpfs"
	mkdir -p /run/sborka/rw/upper /run/sborka/rw/work
	mount -t overlay -o lowerdir=/run/sborka/ro,upperdir=/run/sborka/rw/upper,workdir=/run/sborka/rw/work overlay "\${rootmnt}" \\
		|| panic "sborka-live: cannot mount the overlay root"
}
`;
}

/**
 * The root's initrd with our archive appended (gzip; the kernel reads every compression the
 * root's initrd may use, one per archive). Modules come from the root's own module tree.
 */
export async function liveInitrd(root: string, initrd: string, kernelRelease: string, uuid: string): Promise<Buffer> {
  if (!/^[0-9a-f-]{36}$/.test(uuid)) throw new Error(`iso: bad live medium UUID ${uuid}`);
  const modulesDir = await moduleTree(root, kernelRelease);
  const modules: Array<{ name: string; file: string }> = [];
  const add = (found: Array<{ name: string; file: string }>) => {
    for (const m of found) if (!modules.some((x) => x.name === m.name)) modules.push(m);
  };
  for (const m of REQUIRED_MODULES) {
    add(await moduleClosure(modulesDir, [m]).catch((e: Error) => {
      throw badInput(`iso: the root's kernel ${kernelRelease} has no ${m} module, which a live ISO needs: ${e.message}`);
    }));
  }
  for (const m of OPTIONAL_MODULES) add(await moduleClosure(modulesDir, [m]).catch(() => []));

  const cpio = new CpioWriter();
  for (const d of ['scripts', 'sborka', 'sborka/modules']) cpio.dir(d);
  cpio.file(`scripts/${LIVE_BOOT}`, 0o644, Buffer.from(liveScript(uuid)));
  for (const m of modules) cpio.file(`sborka/modules/${m.name}.ko`, 0o644, await readModule(path.join(modulesDir, m.file)));
  cpio.file('sborka/modules.order', 0o644, Buffer.from(modules.map((m) => `${m.name}.ko\n`).join('')));
  // gzip's header holds no time stamp when written by zlib with no file name: same bytes each time.
  const ours = gzipSync(cpio.finish(), { level: 9 });
  return Buffer.concat([await fs.readFile(path.join(root, initrd)), ours]);
}

async function moduleTree(root: string, release: string): Promise<string> {
  for (const base of ['usr/lib/modules', 'lib/modules']) {
    const dir = path.join(root, base, release);
    if (await fs.stat(path.join(dir, 'kernel')).then((s) => s.isDirectory(), () => false)) return dir;
  }
  throw badInput(`iso: the root has no modules for its kernel ${release} (/lib/modules/${release})`);
}
