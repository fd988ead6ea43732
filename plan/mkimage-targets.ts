// The targets mkimage-profiles defines, as facts of its tree: altlinux/mkimage-profiles at
// fc28b26b41fc6d887e182c7feab2dba212d0bf8e (2025-09-09), listed the way its main.mk (lines
// 55-60) lists them: `make IMAGE_CLASS=<class> -s -r -p -f conf.d/<file>.mk` for each class,
// the rules named <class>/<name> without a dot, here with ARCH set to each arch in turn
// (conf.d/*.mk define some targets for some arches only; BRANCH changes none of the names).
// Names and classes only: what a target builds is upstream's.
// The image types a class takes come from features.in/pack/config.mk (DISTRO_EXTS line 4,
// VE_EXTS lines 23-28, VM_EXTS line 49) and main.mk lines 65-71 (<target><ext> goals).

export const MKIMAGE_PROFILES_COMMIT = 'fc28b26b41fc6d887e182c7feab2dba212d0bf8e';

export type TargetClass = 'distro' | 've' | 'vm';

/** The arch groups conf.d/*.mk conditions name; a target without one is defined for every arch. */
const ONLY = {
  x86: ['i586', 'x86_64'],
  aarch64: ['aarch64'],
  grub: ['aarch64', 'i586', 'loongarch64', 'riscv64', 'x86_64'],
  e2k: ['e2kv4', 'e2kv5', 'e2kv6'],
} as const;

/** Target name → the arches it exists for (undefined: all of them). */
export const MKIMAGE_TARGETS: Readonly<Record<string, readonly string[] | undefined>> = {
  'distro/alt-platform-builder': undefined,
  'distro/dos': ONLY.x86,
  'distro/grub': ONLY.grub,
  'distro/grub-net-install': ONLY.grub,
  'distro/grub-ui': ONLY.grub,
  'distro/live-0ad': undefined,
  'distro/live-blender': undefined,
  'distro/live-builder': undefined,
  'distro/live-builder-mini': undefined,
  'distro/live-flightgear': undefined,
  'distro/live-flightgear-tu154': undefined,
  'distro/live-fvwm': undefined,
  'distro/live-gimp': undefined,
  'distro/live-glxgears': undefined,
  'distro/live-icewm': undefined,
  'distro/live-install': undefined,
  'distro/live-privacy': undefined,
  'distro/live-privacy-dev': undefined,
  'distro/live-rescue': undefined,
  'distro/live-webkiosk': undefined,
  'distro/live-webkiosk-chromium': undefined,
  'distro/live-webkiosk-flash': undefined,
  'distro/live-webkiosk-mini': undefined,
  'distro/regular-builder': undefined,
  'distro/regular-builder-sysv': undefined,
  'distro/regular-cinnamon': undefined,
  'distro/regular-cnc-rt': undefined,
  'distro/regular-engineering-live': undefined,
  'distro/regular-enlightenment': undefined,
  'distro/regular-gnome': undefined,
  'distro/regular-gnustep': undefined,
  'distro/regular-gnustep-sysv': undefined,
  'distro/regular-icewm': undefined,
  'distro/regular-icewm-sysv': undefined,
  'distro/regular-jeos-systemd': undefined,
  'distro/regular-jeos-sysv': undefined,
  'distro/regular-kde': undefined,
  'distro/regular-lxde': undefined,
  'distro/regular-lxqt': undefined,
  'distro/regular-mate': undefined,
  'distro/regular-net-install': ONLY.grub,
  'distro/regular-rescue': undefined,
  'distro/regular-rescue-live': undefined,
  'distro/regular-rescue-netbootxyz': undefined,
  'distro/regular-server-systemd': undefined,
  'distro/regular-server-sysv': undefined,
  'distro/regular-wmaker-sysv': undefined,
  'distro/regular-xfce': undefined,
  'distro/rescue': undefined,
  'distro/rescue-remote': undefined,
  'distro/syslinux': ONLY.x86,
  've/bare': undefined,
  've/base': undefined,
  've/builder': undefined,
  've/docker': undefined,
  've/e2k-git': ONLY.e2k,
  've/e2k-installer': ONLY.e2k,
  've/generic': undefined,
  've/ldv': undefined,
  've/lxc-builder': undefined,
  've/lxc-systemd-etcnet': undefined,
  've/lxc-systemd-networkd': undefined,
  've/lxc-sysvinit-etcnet': undefined,
  've/openvpn': undefined,
  've/pgsql': undefined,
  've/samba-DC': undefined,
  've/systemd-bare': undefined,
  've/systemd-base': undefined,
  've/systemd-etcnet': undefined,
  've/systemd-networkd': undefined,
  've/sysvinit-etcnet': undefined,
  'vm/acos': undefined,
  'vm/alt-mobile-phosh-def': undefined,
  'vm/alt-mobile-phosh-lt11i': ONLY.aarch64,
  'vm/alt-mobile-phosh-pine': ONLY.aarch64,
  'vm/alt-mobile-phosh-rocknix': ONLY.aarch64,
  'vm/alt-mobile-phosh-tablet-def': undefined,
  'vm/alt-mobile-sway-def': undefined,
  'vm/alt-mobile-sway-lt11i': ONLY.aarch64,
  'vm/alt-mobile-sway-pine': ONLY.aarch64,
  'vm/alt-mobile-sway-rocknix': ONLY.aarch64,
  'vm/alt-rescue': ONLY.e2k,
  'vm/bare': undefined,
  'vm/cloud-systemd': undefined,
  'vm/cloud-sysv': undefined,
  'vm/e2k-builder': ONLY.e2k,
  'vm/e2k-live': ONLY.e2k,
  'vm/e2k-lxqt': ONLY.e2k,
  'vm/e2k-mate': ONLY.e2k,
  'vm/e2k-samba-DC': ONLY.e2k,
  'vm/e2k-xfce': ONLY.e2k,
  'vm/icewm': undefined,
  'vm/icewm-setup': undefined,
  'vm/mate-a11y': undefined,
  'vm/net': undefined,
  'vm/opennebula-systemd': undefined,
  'vm/regular-builder': undefined,
  'vm/regular-builder-rpi': ONLY.aarch64,
  'vm/regular-cinnamon': undefined,
  'vm/regular-cnc-rt': undefined,
  'vm/regular-gnome': undefined,
  'vm/regular-jeos-systemd': undefined,
  'vm/regular-jeos-systemd-rpi': ONLY.aarch64,
  'vm/regular-kde': undefined,
  'vm/regular-lxqt': undefined,
  'vm/regular-lxqt-rpi': ONLY.aarch64,
  'vm/regular-mate': undefined,
  'vm/regular-mate-rpi': ONLY.aarch64,
  'vm/regular-systemd': undefined,
  'vm/regular-xfce': undefined,
  'vm/regular-xfce-rpi': ONLY.aarch64,
  'vm/systemd': undefined,
  'vm/systemd-net': undefined,
  'vm/vagrant-base': ONLY.x86,
};

/** Image types (the goal's extension) each class takes. */
export const CLASS_TYPES: Readonly<Record<TargetClass, readonly string[]>> = {
  distro: ['iso', 'tar'],
  ve: ['cpio', 'cpio.gz', 'cpio.xz', 'squash', 'squash.gz', 'squash.xz', 'tar', 'tar.gz', 'tar.xz', 'ubifs', 'ubifs.gz', 'ubifs.xz'],
  vm: ['tar', 'tar.gz', 'tar.xz', 'img', 'img.xz', 'qcow2', 'qcow2c', 'vdi', 'vmdk', 'vhd'],
};

/** The arch names conf.d/*.mk conditions test (e2k% matches every e2k generation). */
export function targetArches(target: string): readonly string[] | undefined {
  return MKIMAGE_TARGETS[target];
}

/** Whether upstream defines the target (for this arch, when given). */
export function isUpstreamTarget(target: string, arch?: string): boolean {
  if (!Object.hasOwn(MKIMAGE_TARGETS, target)) return false;
  const only = MKIMAGE_TARGETS[target];
  return only === undefined || arch === undefined || only.includes(arch);
}

/** The upstream targets of a class defined for an arch, sorted. */
export function upstreamTargets(cls: TargetClass, arch?: string): string[] {
  return Object.keys(MKIMAGE_TARGETS).filter((t) => t.startsWith(`${cls}/`) && isUpstreamTarget(t, arch)).sort();
}
