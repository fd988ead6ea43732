// riscv64 from trixie (bookworm has no riscv64 port), for real and without binfmt_misc:
// installed and configured inside a qemu-system-riscv64 VM (opensbi), then an img written
// and boot-tested under TCG (see foreign-fixture.ts). Debian has no cloud kernel for
// riscv64: the recipe's `kernel default` is linux-image-riscv64.
import { foreignSuite } from './foreign-fixture';

jest.setTimeout(60 * 60_000);

foreignSuite({
  arch: 'riscv64', branch: 'trixie', kernel: 'default', kernelPackage: 'linux-image-riscv64',
  kernelImage: 'vmlinux', packages: ['systemd-sysv', 'udev'], console: 'ttyS0',
});
