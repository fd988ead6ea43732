// `img`: a raw disk with an MBR partition table and one ext4 root partition at 1 MiB.
// x86_64 boots by itself: GRUB's boot.img in the MBR and a core.img (with an embedded
// prefix) in the gap before the partition, which reads /boot/grub/grub.cfg from the root.
// Other arches carry no boot loader yet: the boot test starts their kernel with -kernel.
//
// Reproducibility: mkfs.ext4 -d with a fixed UUID, hash seed and E2FSPROGS_FAKE_TIME gives
// the same layout for the same tree, but copies each file's ctime and atime from the host
// (the unpack time); debugfs then sets both to SOURCE_DATE_EPOCH on every inode.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../../plan/plan';
import { badInput, stepFailed } from '../../failures';
import { readLogTail } from '../../step-log';
import { checkSignedChain, ESP_BYTES, espBytesFor, writeEsp, writeKeyEsp } from '../secure-boot';
import { signedUki } from '../secure-boot-key';
import { clampTime, derivedUuid, finish, unpackRoot, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';

const MiB = 1024 * 1024;
/** The root partition starts here; the MBR gap before it holds GRUB's core.img. */
export const ROOT_OFFSET = MiB;
const GRUB_DIR = '/usr/lib/grub/i386-pc';
const GRUB_MODULES = ['biosdisk', 'part_msdos', 'ext2', 'normal', 'linux', 'serial', 'terminal', 'echo', 'test', 'search', 'configfile', 'gzio'];
/** Where boot.img's code ends and the disk signature and partition table begin. */
const MBR_CODE_END = 0x1b8;

/** The serial console each arch's qemu machine has (the boot test reads it). */
export const SERIAL_CONSOLE: Partial<Record<Arch, string>> = { x86_64: 'ttyS0', aarch64: 'ttyAMA0', riscv64: 'ttyS0' };

export async function writeImg(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  const serial = SERIAL_CONSOLE[req.arch];
  if (!serial) throw badInput(`img: arch ${req.arch} is not supported by the debian toolchain`);
  const root = path.join(w.workDir, 'root');
  await unpackRoot(w, src, root);
  const epoch = src.sourceDateEpoch;
  const rootUuid = derivedUuid(req.seed, 'root filesystem');
  const hashSeed = derivedUuid(req.seed, 'root directory hash seed');
  const diskId = `0x${derivedUuid(req.seed, 'disk identifier').slice(0, 8)}`;

  const kernel = src.kernel ?? (await findBootFile(root, 'vmlinuz-')) ?? (await findBootFile(root, 'vmlinux-'));
  const initrd = src.initrd ?? (await findBootFile(root, 'initrd.img-'));
  const cmdline = `root=UUID=${rootUuid} ro console=${serial},115200n8`;
  await addRootMount(root, rootUuid, epoch);
  const bootloader = req.arch === 'x86_64' ? 'grub-i386-pc' : 'none';
  const secureBoot = req.output.secureBoot === true;
  // `secure-boot key`: a unified kernel image signed with the recipe's key (secure-boot-key.ts).
  const ownKey = typeof req.output.secureBoot === 'object' ? req.signing : undefined;
  if (typeof req.output.secureBoot === 'object' && !ownKey) throw badInput('img: secure-boot key: the build step read no signing key');
  if (bootloader !== 'none' || secureBoot || ownKey) {
    if (!kernel) throw badInput(`img: the root has no kernel in /boot (configure values.kernel is unset); a bootable ${req.arch} image needs one`);
    // Before any disk is written: a chain Secure Boot would not load is refused with the reason.
    if (secureBoot) await checkSignedChain(w, { arch: req.arch, root, kernel });
    await writeGrubConfig(root, kernel, initrd, cmdline, epoch);
  }
  const uki = ownKey ? await signedUki(w, ownKey, { root, kernel: kernel!, initrd, cmdline, epoch }) : undefined;

  const tree = await walk(root);
  const diskSize = Math.floor((req.output.sizeBytes ?? autoSize(tree.bytes)) / MiB) * MiB;
  // With Secure Boot the disk ends in an EFI system partition (MBR type ef) holding the signed chain.
  const espBytes = secureBoot ? ESP_BYTES : uki ? espBytesFor((await fs.stat(uki)).size) : 0;
  const withEsp = espBytes > 0;
  const partSize = diskSize - ROOT_OFFSET - espBytes;
  const needed = Math.ceil(tree.bytes * 1.1) + tree.paths.length * 256 + 96 * MiB;
  if (partSize < needed) {
    throw badInput(`img: size ${diskSize} bytes is too small for this root (about ${Math.ceil(needed / MiB) + 1} MiB needed); raise the output's size`);
  }

  w.progress({ phase: 'partitioning' });
  const disk = path.join(w.workDir, 'disk.img');
  await fs.writeFile(disk, '');
  await fs.truncate(disk, diskSize);
  const layout = path.join(w.workDir, 'layout.sfdisk');
  const espLine = withEsp ? `start=${(ROOT_OFFSET + partSize) / 512}, size=${espBytes / 512}, type=ef\n` : '';
  await fs.writeFile(layout, `label: dos\nlabel-id: ${diskId}\nunit: sectors\n\nstart=${ROOT_OFFSET / 512}${withEsp ? `, size=${partSize / 512}` : ''}, type=83, bootable\n${espLine}`);
  // sfdisk reads its script from stdin only; the shell text is fixed, the paths are arguments.
  await w.run(['sh', '-c', 'exec sfdisk --quiet --no-reread --no-tell-kernel "$1" < "$2"', 'sh', disk, layout]);

  // The file system is made in place, inside the partition: no separate file copied into the disk.
  const fakeTime = { E2FSPROGS_FAKE_TIME: String(epoch), SOURCE_DATE_EPOCH: String(epoch) };
  w.progress({ phase: 'mkfs.ext4' });
  await w.run([
    'mkfs.ext4', '-q', '-F', '-t', 'ext4', '-b', '4096', '-I', '256', '-L', 'root', '-U', rootUuid,
    '-E', `offset=${ROOT_OFFSET},hash_seed=${hashSeed},lazy_itable_init=0,lazy_journal_init=0`, '-d', root, disk, String(partSize / 4096),
  ], { env: fakeTime });
  w.progress({ phase: 'clamping inode times' });
  // e2fsprogs opens a file system at an offset inside a file as "file?offset=N".
  await clampInodeTimes(w, `${disk}?offset=${ROOT_OFFSET}`, epoch, fakeTime);
  if (bootloader === 'grub-i386-pc') await installGrub(w, disk);
  if (withEsp) {
    const fat = path.join(w.workDir, 'esp.fat');
    const volumeId = derivedUuid(req.seed, 'EFI system partition').slice(0, 8);
    if (uki) await writeKeyEsp(w, { uki, volumeId, epoch, bytes: espBytes }, fat);
    else await writeEsp(w, { arch: req.arch, root, kernel: kernel!, rootUuid, volumeId, epoch }, fat);
    await copyInto(disk, fat, ROOT_OFFSET + partSize);
  }

  return finish(disk, outputsDir, req.fileName, 'img', {
    partitionTable: 'dos', diskId, rootUuid, rootPartition: 1, rootOffsetBytes: ROOT_OFFSET, rootFs: 'ext4',
    bootloader, kernel, initrd, cmdline, console: serial,
    ...(secureBoot ? { secureBoot: 'debian-signed', espPartition: 2, espOffsetBytes: ROOT_OFFSET + partSize } : {}),
    // The cert is public: the boot test enrolls it, and a user needs it in their firmware's db.
    ...(ownKey ? { secureBoot: 'recipe-key', secureBootCert: ownKey.certPem, secureBootSigner: ownKey.subject, espPartition: 2, espOffsetBytes: ROOT_OFFSET + partSize } : {}),
  });
}

/** Writes a file's bytes into the disk at an offset (the ESP's FAT into its partition). */
async function copyInto(disk: string, file: string, offset: number): Promise<void> {
  const bytes = await fs.readFile(file);
  const fh = await fs.open(disk, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

/** Root's size plus room to boot and log: the size of an img output without `size`. */
function autoSize(bytes: number): number {
  return Math.ceil((bytes * 1.3 + 512 * MiB) / MiB) * MiB;
}

export async function findBootFile(root: string, prefix: string): Promise<string | undefined> {
  const names = (await fs.readdir(path.join(root, 'boot')).catch(() => [] as string[])).filter((n) => n.startsWith(prefix)).sort();
  // Several kernels: the last in version order is what Debian's own /vmlinuz link points to.
  const last = names.at(-1);
  return last === undefined ? undefined : `boot/${last}`;
}

/** fstab gets the root this writer made, unless the recipe's root already mounts "/". */
async function addRootMount(root: string, uuid: string, epoch: number): Promise<void> {
  const fstab = path.join(root, 'etc', 'fstab');
  const text = await fs.readFile(fstab, 'utf8').catch(() => '');
  const mountsRoot = text.split('\n').some((l) => l.trim().split(/\s+/)[1] === '/' && !l.trim().startsWith('#'));
  if (mountsRoot) return;
  await fs.mkdir(path.dirname(fstab), { recursive: true });
  await fs.writeFile(fstab, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}UUID=${uuid} / ext4 errors=remount-ro 0 1\n`);
  await clampTime(fstab, epoch);
  await clampTime(path.dirname(fstab), epoch);
}

async function writeGrubConfig(root: string, kernel: string, initrd: string | undefined, cmdline: string, epoch: number): Promise<void> {
  const dir = path.join(root, 'boot', 'grub');
  await fs.mkdir(dir, { recursive: true });
  const cfg = [
    '# Written by sborka: the image boots this entry at once, its console on the serial line.',
    'set timeout=0',
    'serial --unit=0 --speed=115200',
    'terminal_input serial console',
    'terminal_output serial console',
    "menuentry 'Debian GNU/Linux' {",
    `  linux /${kernel} ${cmdline}`,
    ...(initrd ? [`  initrd /${initrd}`] : []),
    '}',
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'grub.cfg'), cfg);
  for (const p of [path.join(dir, 'grub.cfg'), dir, path.dirname(dir)]) await clampTime(p, epoch);
}

/** Every path of the tree ("/" first, sorted) and the bytes its files take. */
async function walk(root: string): Promise<{ paths: string[]; bytes: number }> {
  const paths = ['/'];
  let bytes = 0;
  const visit = async (rel: string) => {
    const names = (await fs.readdir(path.join(root, rel))).sort();
    for (const name of names) {
      const r = `${rel}/${name}`;
      paths.push(r);
      const st = await fs.lstat(path.join(root, r));
      bytes += Math.ceil(st.size / 4096) * 4096;
      if (st.isDirectory()) await visit(r);
    }
  };
  await visit('');
  return { paths, bytes };
}

async function clampInodeTimes(w: WriterContext, ext4: string, epoch: number, env: Record<string, string>): Promise<void> {
  // By inode number, not path: systemd's unit names hold backslashes debugfs cannot quote.
  const usage = path.join(w.workDir, 'dumpe2fs.log');
  await w.runQuiet(['dumpe2fs', ext4], usage);
  const inodes = usedInodes(await fs.readFile(usage, 'utf8'));
  const lines = inodes.flatMap((ino) => [`sif <${ino}> ctime @${epoch}`, `sif <${ino}> atime @${epoch}`]);
  const cmds = path.join(w.workDir, 'clamp-times.debugfs');
  await fs.writeFile(cmds, `${lines.join('\n')}\n`);
  const log = path.join(w.workDir, 'debugfs.log');
  await w.runQuiet(['debugfs', '-w', '-f', cmds, ext4], log, { env });
  // debugfs exits 0 whatever its commands did: its complaints are the lines it did not echo.
  const text = await fs.readFile(log, 'utf8');
  const errors = text.split('\n').filter((l) => l !== '' && !l.startsWith('debugfs') && !l.startsWith('--- sborka'));
  if (errors.length > 0) {
    const tail = await readLogTail(log, 5);
    throw stepFailed(`img: debugfs could not set inode times: ${errors.slice(0, 5).join('; ')}\n${tail.join('\n')}`);
  }
}

/** In-use inodes (the root directory and every one from the first non-reserved on) from dumpe2fs's free-inode ranges. */
export function usedInodes(dumpe2fs: string): number[] {
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(dumpe2fs)?.[1]);
  const first = Number(/^First inode:\s+(\d+)/m.exec(dumpe2fs)?.[1]);
  if (!(perGroup > 0) || !(first > 0)) throw stepFailed('img: cannot read the inode layout from dumpe2fs');
  const used: number[] = [2];
  const groups = [...dumpe2fs.matchAll(/^Group (\d+):[\s\S]*?^\s+Free inodes: ?(.*)$/gm)];
  for (const [, g, ranges = ''] of groups) {
    const start = Number(g) * perGroup + 1;
    const free = new Set<number>();
    for (const r of ranges.split(',').map((x) => x.trim()).filter(Boolean)) {
      const [lo, hi = lo] = r.split('-').map(Number);
      for (let i = lo!; i <= hi!; i++) free.add(i);
    }
    for (let ino = Math.max(start, first); ino < start + perGroup; ino++) if (!free.has(ino)) used.push(ino);
  }
  return used;
}

/** GRUB for BIOS without grub-install (which wants a mounted file system and a block device). */
async function installGrub(w: WriterContext, disk: string): Promise<void> {
  w.progress({ phase: 'installing grub' });
  const core = path.join(w.workDir, 'core.img');
  await w.run(['grub-mkimage', '--directory', GRUB_DIR, '--format', 'i386-pc', '--output', core, '--prefix', '(hd0,msdos1)/boot/grub', ...GRUB_MODULES]);
  const [bootImg, coreImg] = await Promise.all([fs.readFile(path.join(GRUB_DIR, 'boot.img')), fs.readFile(core)]);
  if (coreImg.length > ROOT_OFFSET - 512) throw stepFailed(`img: GRUB's core.img (${coreImg.length} bytes) does not fit before the root partition`);
  // grub-mkimage already points boot.img at sector 1 and core.img's block list at sectors 2..,
  // which is where they go: only the MBR's code area is replaced, its partition table stays.
  const fh = await fs.open(disk, 'r+');
  try {
    await fh.write(bootImg, 0, MBR_CODE_END, 0);
    await fh.write(coreImg, 0, coreImg.length, 512);
  } finally {
    await fh.close();
  }
}
