// Firmware qemu needs to boot an image that its own defaults cannot: UEFI (edk2) for
// aarch64's `virt` machine (-bios), and for riscv64 a boot loader that OpenSBI (qemu's
// `-bios default`) hands over to and that reads the disk: U-Boot for S-mode (-kernel).
// x86 boots with qemu's SeaBIOS and needs nothing here. The alt host config has no firmware
// setting, so the paths ALT's and Debian's packages install to are looked up; a host with
// none is told which package to install.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../plan/plan';

interface FirmwareSource {
  what: string;
  /** How qemu takes it: as the firmware, or as the payload the firmware starts. */
  role: 'bios' | 'loader';
  /** Checked in order; `-bios` takes both the 2 MiB QEMU_EFI.fd and the 64 MiB flash images. */
  paths: string[];
  /** The package that installs it, by os-release ID. */
  packages: { altlinux: string; debian: string };
}

const FIRMWARE: Partial<Record<Arch, FirmwareSource>> = {
  aarch64: {
    what: 'UEFI firmware (edk2) for qemu-system-aarch64',
    role: 'bios',
    paths: [
      '/usr/share/AAVMF/QEMU_EFI.fd', // ALT: edk2-aarch64
      '/usr/share/edk2/aarch64/QEMU_EFI.fd', // ALT: edk2-aarch64
      '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd', // Debian: qemu-efi-aarch64
      '/usr/share/AAVMF/AAVMF_CODE.fd', // both, libvirt's name
      '/usr/share/qemu/edk2-aarch64-code.fd', // qemu's own build, where a package ships it
    ],
    packages: { altlinux: 'edk2-aarch64', debian: 'qemu-efi-aarch64' },
  },
  riscv64: {
    what: 'U-Boot for qemu\'s riscv64 virt machine in S-mode',
    role: 'loader',
    paths: [
      '/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf', // Debian: u-boot-qemu
      '/usr/share/u-boot/qemu-riscv64_smode/u-boot.bin', // ALT: u-boot-qemu (path to confirm on a riscv64 host)
    ],
    packages: { altlinux: 'u-boot-qemu', debian: 'u-boot-qemu' },
  },
};

/** What to add to qemu's command line for an arch: -bios and/or -kernel files. */
export interface BootFirmware {
  bios?: string;
  loader?: string;
}

export interface FirmwareLookup {
  /** Prefix of every path looked at (tests). */
  root?: string;
  /** /etc/os-release's text; read from `root` when absent. */
  osRelease?: string;
}

/**
 * The firmware files for booting an `arch` image (none when qemu's defaults do). Throws
 * when the arch needs one and none is installed, naming the package that provides it.
 */
export function bootFirmware(arch: Arch, o: FirmwareLookup = {}): BootFirmware {
  const src = FIRMWARE[arch];
  if (!src) return {};
  const root = o.root ?? '/';
  const found = src.paths.find((p) => fs.existsSync(path.join(root, p)));
  if (found) return { [src.role]: path.join(root, found) };
  throw new Error(`booting an ${arch} image needs ${src.what}, and none of ${src.paths.join(', ')} exists on this host; install ${packageHint(src, o.osRelease ?? readOsRelease(root))}`);
}

function packageHint(src: FirmwareSource, osRelease: string): string {
  const field = (name: string) => new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm').exec(osRelease)?.[1] ?? '';
  const ids = `${field('ID')} ${field('ID_LIKE')}`.split(/\s+/);
  if (ids.includes('altlinux')) return `the ${src.packages.altlinux} package`;
  if (ids.includes('debian')) return `the ${src.packages.debian} package`;
  return `${src.packages.altlinux} (ALT) or ${src.packages.debian} (Debian)`;
}

function readOsRelease(root: string): string {
  try {
    return fs.readFileSync(path.join(root, 'etc/os-release'), 'utf8');
  } catch {
    return '';
  }
}
