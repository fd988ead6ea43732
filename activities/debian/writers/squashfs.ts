// `squashfs`: mksquashfs of the unpacked root. -reproducible fixes the fragment and inode
// order whatever the thread count (so it runs on every core); every time stamp is the root's SOURCE_DATE_EPOCH. Owners
// are kept from the root (it was unpacked as root), so -all-root would be wrong here.
import * as path from 'node:path';
import { compressorThreads } from './compress';
import { finish, unpackRoot, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';

// zstd by default: it unpacks as fast as gzip, packs far faster than xz and every kernel we boot reads it.
const COMP: Record<string, string[]> = {
  none: ['-noI', '-noD', '-noF', '-noX'], gzip: ['-comp', 'gzip'], xz: ['-comp', 'xz'], zstd: ['-comp', 'zstd'],
};

export async function writeSquashfs(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  const root = path.join(w.workDir, 'root');
  await unpackRoot(w, src, root);
  const out = path.join(w.workDir, 'image.squashfs');
  const compression = req.output.compression ?? 'zstd';
  await mksquashfs(w, root, out, compression, src.sourceDateEpoch);
  return finish(out, outputsDir, req.fileName, 'squashfs', { compression });
}

/** The reproducible mksquashfs of an unpacked root (the iso writer's live root too). */
export async function mksquashfs(w: WriterContext, root: string, out: string, compression: string, epoch: number): Promise<void> {
  w.progress({ phase: 'mksquashfs' });
  await w.run([
    'mksquashfs', root, out, '-noappend', '-no-progress', ...COMP[compression]!, '-b', '1M',
    '-reproducible', '-mkfs-time', String(epoch), '-all-time', String(epoch),
    '-xattrs', '-processors', String(compressorThreads()),
  ]);
}
