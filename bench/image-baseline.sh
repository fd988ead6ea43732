#!/usr/bin/env bash
# The baseline of bench/image.ts: the minimal Debian x86_64 image of
# products/debian/minimal.sborka built by a plain script with the same tools sborka's debian
# toolchain runs, in sequence, without sborka (no Temporal, no store, no cache, no lock):
#   mmdebstrap (minbase + the recipe's packages + the cloud kernel, apt resolving),
#   configure (hostname, hosts, timezone, machine-id, root password, update-initramfs in
#   bubblewrap, a deterministic tar), the tar output, and the bootable img (fstab and
#   grub.cfg, mkfs.ext4 -d, sfdisk, dd, grub-mkimage, boot.img + core.img into the MBR gap).
# Usage: image-baseline.sh <work-dir> [extra package...]   (as root; the work dir is emptied)
set -euo pipefail
work=${1:?usage: image-baseline.sh <work-dir> [extra package...]}
shift
extra=("$@")
packages=(systemd-sysv udev openssh-server linux-image-cloud-amd64 "${extra[@]}")
size=$((2 * 1024 * 1024 * 1024))
mib=$((1024 * 1024))

rm -rf "$work"
mkdir -p "$work/root"
cd "$work"
# Each phase's seconds go to phases.tsv, which bench/image.ts prints next to sborka's steps.
phase_started=$(date +%s.%N)
phase() {
  local now
  now=$(date +%s.%N)
  awk -v name="$1" -v a="$now" -v b="$phase_started" 'BEGIN { printf "%s\t%.1f\n", name, a - b }' >>phases.tsv
  phase_started=$now
}
epoch=$(date +%s)
export SOURCE_DATE_EPOCH=$epoch

# The root: one mmdebstrap run; apt resolves and downloads everything.
mmdebstrap --mode=unshare --variant=minbase --format=tar --architectures=amd64 \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
  bookworm rootfs.tar \
  "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
  "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main" \
  "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main" \
  2>mmdebstrap.log
phase root

# configure: the recipe's settings, then the initramfs inside the root.
tar --extract --file=rootfs.tar --directory=root --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*'
printf '#!/bin/sh\nexit 101\n' >root/usr/sbin/policy-rc.d
chmod 755 root/usr/sbin/policy-rc.d
echo debian >root/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >root/etc/hosts
ln -sf /usr/share/zoneinfo/UTC root/etc/localtime
echo UTC >root/etc/timezone
echo 'LANG=C.UTF-8' >root/etc/default/locale
: >root/etc/machine-id
usermod --root="$PWD/root" --password='!' -- root
kver=$(basename "$(ls root/boot/vmlinuz-* | tail -n1)")
kver=${kver#vmlinuz-}
bwrap --bind "$PWD/root" / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /run --unshare-ipc --unshare-pid --unshare-net \
  --unshare-uts --hostname sborka --die-with-parent --clearenv --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --setenv HOME /root --setenv LANG C.UTF-8 --setenv SOURCE_DATE_EPOCH "$epoch" --chdir / -- update-initramfs -u -k "$kver" >initramfs.log 2>&1
rm -f root/usr/sbin/policy-rc.d
tar --create --file=configured.tar --directory=root --sort=name --numeric-owner --xattrs --xattrs-include='*' --format=pax \
  --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' --mtime="@$epoch" --clamp-mtime --one-file-system .
phase configure

# The tar output is the configured root.
cp configured.tar debian-minimal-x86_64-cloud.tar
phase tar

# The bootable img: an ext4 root in a dos-partitioned disk, GRUB for BIOS in the MBR gap.
uuid=$(cat /proc/sys/kernel/random/uuid)
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >>root/etc/fstab
mkdir -p root/boot/grub
initrd=$(basename "$(ls root/boot/initrd.img-* | tail -n1)")
cat >root/boot/grub/grub.cfg <<EOF
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry 'Debian GNU/Linux' {
  linux /boot/vmlinuz-$kver root=UUID=$uuid ro console=ttyS0,115200n8
  initrd /boot/$initrd
}
EOF
truncate --size=$((size - mib)) root.ext4
E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -t ext4 -b 4096 -I 256 -L root -U "$uuid" -E lazy_itable_init=0,lazy_journal_init=0 -d root root.ext4
truncate --size=$size disk.img
printf 'label: dos\nunit: sectors\n\nstart=2048, type=83, bootable\n' | sfdisk --quiet --no-reread --no-tell-kernel disk.img
dd if=root.ext4 of=disk.img bs=1M seek=1 conv=notrunc,sparse status=none
rm root.ext4
grub-mkimage --directory /usr/lib/grub/i386-pc --format i386-pc --output core.img --prefix '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos ext2 normal linux serial terminal echo test search configfile gzio
dd if=/usr/lib/grub/i386-pc/boot.img of=disk.img bs=440 count=1 conv=notrunc status=none
dd if=core.img of=disk.img bs=512 seek=1 conv=notrunc status=none
mv disk.img debian-minimal-x86_64-cloud.img
sha256sum debian-minimal-x86_64-cloud.img debian-minimal-x86_64-cloud.tar >SHA256SUMS
phase img
