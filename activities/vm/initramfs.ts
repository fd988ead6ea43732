// Our own tiny initramfs for VM runs: a static busybox of the guest's architecture, the
// kernel modules 9p over virtio needs (with their dependencies, read from the modules'
// own .modinfo since Debian's packages ship no modules.dep) and an /init that mounts
// the 9p shares, runs the command in a chroot and reports its exit code through the
// control share. Written as a newc cpio with fixed metadata, so the same inputs always
// give the same bytes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from './debian-mirror';

/** Modules the runner needs; dependencies are added, built-ins skipped. */
/**
 * ext4: a foreign build root travels to the VM as an ext4 disk (activities/debian/sandbox.ts);
 * ext4 asks the crypto API for crc32c at mount time, which no modprobe would load here.
 */
export const WANTED_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_rng', '9pnet_virtio', '9p', 'crc32c_generic', 'ext4'] as const;

/** Mount tags the init and the runner agree on. */
export const CTL_TAG = 'sborkactl';
export const ROOT_TAG = 'sborkaroot';
/** The file name under ctl/mounts/ (and ctl/mounts-ro/) and the tag suffix of the index-th extra mount. */
export const mountId = (index: number) => String(index).padStart(3, '0');
export const mountTag = (index: number) => `sborkam${mountId(index)}`;

// PID 1 of the guest. It reads everything from the control share as one file per value
// and builds the command with "set --", so no value is ever parsed or evaluated by the
// shell. $(cat f; echo x) keeps trailing newlines that plain $(cat f) would strip.
export const INIT_SCRIPT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
say() { echo "sborka-vm: $*"; }
halt() { sync; poweroff -f; reboot -f; }
while read -r m; do
  insmod "/lib/modules/$m" || say "cannot load module $m"
done < /etc/modules.order
o=trans=virtio,version=9p2000.L,msize=262144
if ! mount -t 9p -o "$o,cache=none" ${CTL_TAG} /ctl; then say "cannot mount the control share"; halt; fi
fail() { say "$*"; echo "$*" > /ctl/error; sync; halt; }
if [ -e /ctl/probe ]; then echo 0 > /ctl/rc; halt; fi
r=
[ -e /ctl/root-ro ] && r=,ro
mount -t 9p -o "$o,cache=mmap$r" ${ROOT_TAG} /newroot || fail "cannot mount the root share"
for f in /ctl/mounts/*; do
  [ -e "$f" ] || continue
  i=\${f##*/}
  p=$(cat "$f"; echo x); p=\${p%x}
  r=
  [ -e "/ctl/mounts-ro/$i" ] && r=,ro
  mkdir -p "/newroot$p" || fail "cannot create mount point $p"
  mount -t 9p -o "$o,cache=mmap$r" "sborkam$i" "/newroot$p" || fail "cannot mount $p"
done
[ -d /newroot/proc ] && mount -t proc proc /newroot/proc
[ -d /newroot/sys ] && mount -t sysfs sysfs /newroot/sys
if [ -d /newroot/dev ]; then
  mount -t devtmpfs devtmpfs /newroot/dev && mkdir -p /newroot/dev/pts && mount -t devpts devpts /newroot/dev/pts
fi
[ -d /newroot/run ] && mount -t tmpfs -o mode=0755 tmpfs /newroot/run
set --
for f in /ctl/env/*; do
  [ -e "$f" ] || continue
  v=$(cat "$f"; echo x); set -- "$@" "\${v%x}"
done
set -- env -i "$@" chroot /newroot
if [ -e /ctl/cwd ]; then
  c=$(cat /ctl/cwd; echo x)
  set -- "$@" /bin/sh -c 'cd "$1" || exit 127; shift; exec "$@"' sborka-cwd "\${c%x}"
fi
for f in /ctl/argv/*; do
  v=$(cat "$f"; echo x); set -- "$@" "\${v%x}"
done
"$@" < /dev/null
rc=$?
kill -KILL -1 2>/dev/null
sync
echo "$rc" > /ctl/rc.tmp && mv /ctl/rc.tmp /ctl/rc
sync
halt
`;

const APPLETS = ['sh', 'mount', 'umount', 'insmod', 'mkdir', 'cat', 'echo', 'env', 'chroot', 'poweroff', 'reboot', 'sync', 'kill', 'mv', 'sleep', 'ls', '['];

/** Identifies what this file puts into an initramfs: a change here must not reuse an old cached one. */
export const INITRAMFS_RECIPE_HASH = createHash('sha256')
  .update(JSON.stringify({ v: 1, init: INIT_SCRIPT, modules: WANTED_MODULES, applets: APPLETS }))
  .digest('hex');

/**
 * The modules to load, in load order (dependencies first), for `wanted` in the unpacked
 * module tree `modulesDir` (…/lib/modules/<release>). Built-in ones are left out.
 * Returns the module paths relative to modulesDir.
 */
export async function moduleClosure(modulesDir: string, wanted: readonly string[]): Promise<Array<{ name: string; file: string }>> {
  const norm = (n: string) => n.replace(/-/g, '_');
  const builtin = new Set<string>();
  const builtinText = await fs.promises.readFile(path.join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  for (const line of builtinText.split('\n')) if (line.trim()) builtin.add(norm(path.basename(line.trim()).replace(/\.ko.*$/, '')));
  const byName = new Map<string, string>();
  const entries = await fs.promises.readdir(path.join(modulesDir, 'kernel'), { recursive: true });
  for (const rel of entries) {
    const m = /(^|\/)([^/]+)\.ko(\.xz|\.zst|\.gz)?$/.exec(rel);
    if (m?.[2]) byName.set(norm(m[2]), path.join('kernel', rel));
  }
  const order: Array<{ name: string; file: string }> = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = async (raw: string): Promise<void> => {
    const name = norm(raw);
    if (done.has(name) || builtin.has(name)) return;
    if (visiting.has(name)) throw new Error(`module dependency cycle at ${name}`);
    const rel = byName.get(name);
    if (!rel) throw new Error(`module ${name} is neither built in nor shipped in ${modulesDir}`);
    visiting.add(name);
    const ko = await readModule(path.join(modulesDir, rel));
    for (const dep of modinfo(ko, 'depends').flatMap((d) => d.split(',')).filter(Boolean)) await visit(dep);
    visiting.delete(name);
    done.add(name);
    order.push({ name, file: rel });
  };
  for (const w of wanted) await visit(w);
  return order;
}

/** A module's bytes, decompressed: the guest's busybox insmod cannot read .xz/.zst. */
export async function readModule(file: string): Promise<Buffer> {
  if (file.endsWith('.ko')) return fs.promises.readFile(file);
  const out = file.replace(/\.(xz|zst|gz)$/, '');
  if (!fs.existsSync(out)) {
    if (file.endsWith('.xz')) await run(['xz', '--decompress', '--keep', '--force', file]);
    else if (file.endsWith('.zst')) await run(['zstd', '--decompress', '--quiet', '--force', file, '-o', out]);
    else await run(['gzip', '--decompress', '--keep', '--force', file]);
  }
  return fs.promises.readFile(out);
}

/** Values of `key` in the ELF64 little-endian module's .modinfo section. */
export function modinfo(ko: Buffer, key: string): string[] {
  if (ko.readUInt32BE(0) !== 0x7f454c46 || ko[4] !== 2 || ko[5] !== 1) throw new Error('not an ELF64 little-endian module');
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  const section = (i: number) => {
    const base = shoff + i * shentsize;
    return { name: ko.readUInt32LE(base), offset: Number(ko.readBigUInt64LE(base + 24)), size: Number(ko.readBigUInt64LE(base + 32)) };
  };
  const strtab = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameStart = strtab.offset + s.name;
    const name = ko.toString('latin1', nameStart, ko.indexOf(0, nameStart));
    if (name !== '.modinfo') continue;
    return ko
      .toString('utf8', s.offset, s.offset + s.size)
      .split('\0')
      .filter((kv) => kv.startsWith(`${key}=`))
      .map((kv) => kv.slice(key.length + 1));
  }
  return [];
}

export interface InitramfsInputs {
  busybox: Buffer;
  modules: Array<{ name: string; data: Buffer }>;
}

/** The gzip-compressed newc cpio of our initramfs. */
export function buildInitramfs(inputs: InitramfsInputs): Buffer {
  const cpio = new CpioWriter();
  for (const d of ['bin', 'dev', 'proc', 'sys', 'ctl', 'newroot', 'etc', 'lib', 'lib/modules', 'tmp']) cpio.dir(d);
  // The kernel opens /dev/console for init's stdio before anything mounts devtmpfs.
  cpio.node('dev/console', 0o020600, 5, 1);
  cpio.node('dev/null', 0o020666, 1, 3);
  cpio.file('init', 0o755, Buffer.from(INIT_SCRIPT));
  cpio.file('bin/busybox', 0o755, inputs.busybox);
  for (const a of APPLETS) cpio.symlink(`bin/${a}`, 'busybox');
  const order: string[] = [];
  for (const m of inputs.modules) {
    cpio.file(`lib/modules/${m.name}.ko`, 0o644, m.data);
    order.push(`${m.name}.ko`);
  }
  cpio.file('etc/modules.order', 0o644, Buffer.from(order.map((o) => `${o}\n`).join('')));
  return gzipSync(cpio.finish(), { level: 6 });
}

export class CpioWriter {
  private readonly chunks: Buffer[] = [];
  private ino = 1;

  dir(name: string): void {
    this.entry(name, 0o040755, Buffer.alloc(0), 2);
  }
  file(name: string, perm: number, data: Buffer): void {
    this.entry(name, 0o100000 | perm, data, 1);
  }
  symlink(name: string, target: string): void {
    this.entry(name, 0o120777, Buffer.from(target), 1);
  }
  node(name: string, mode: number, major: number, minor: number): void {
    this.entry(name, mode, Buffer.alloc(0), 1, major, minor);
  }
  finish(): Buffer {
    this.entry('TRAILER!!!', 0, Buffer.alloc(0), 1, 0, 0, 0);
    return Buffer.concat(this.chunks);
  }

  private entry(name: string, mode: number, data: Buffer, nlink: number, rmaj = 0, rmin = 0, ino = this.ino++): void {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const nameBuf = Buffer.from(`${name}\0`);
    const header =
      '070701' +
      [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rmaj, rmin, nameBuf.length, 0].map(hex).join('');
    this.chunks.push(Buffer.from(header, 'ascii'), nameBuf, pad(110 + nameBuf.length), data, pad(data.length));
  }
}

function pad(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}
