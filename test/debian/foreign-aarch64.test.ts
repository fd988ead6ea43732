// aarch64 from bookworm, for real and without binfmt_misc: the root is unpacked on the
// host, every package is installed and configured inside a qemu-system-aarch64 VM (the
// root on an ext4 disk), then the script and initramfs in a second one, then an img is
// written and boot-tested under TCG (see foreign-fixture.ts).
import { foreignSuite } from './foreign-fixture';

jest.setTimeout(60 * 60_000);

foreignSuite({
  arch: 'aarch64', branch: 'bookworm', kernel: 'cloud', kernelPackage: 'linux-image-cloud-arm64',
  kernelImage: 'vmlinuz', packages: ['systemd-sysv', 'udev'], console: 'ttyAMA0',
});
