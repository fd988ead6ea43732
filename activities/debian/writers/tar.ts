// `tar`: the configured root as a tarball. rootfs.tar is already reproducible (sorted,
// numeric owners, clamped mtimes), so it is taken as is (linked) and compressed by a tool run
// with fixed settings: no names or times in headers, one thread (xz's output depends on threads).
import * as path from 'node:path';
import { linkOrCopy } from '../mmdebstrap';
import { finish, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';

const COMPRESS: Record<string, { argv: (file: string) => string[]; suffix: string }> = {
  gzip: { argv: (f) => ['gzip', '-n', '--force', f], suffix: '.gz' },
  xz: { argv: (f) => ['xz', '--threads=1', '--check=crc64', '--force', f], suffix: '.xz' },
  zstd: { argv: (f) => ['zstd', '-q', '--threads=1', '--no-progress', '--rm', '-f', f], suffix: '.zst' },
};

export async function writeTar(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  const compression = req.output.compression ?? 'none';
  const plain = path.join(w.workDir, 'rootfs.tar');
  // A link, not a copy: store files are never written again, and the compressors write a new
  // file and unlink this name, leaving the input's inode alone.
  await linkOrCopy(src.rootfsTar, plain);
  const tool = COMPRESS[compression];
  if (!tool) return finish(plain, outputsDir, req.fileName, 'tar', { compression }, src.rootfsSha256);
  w.progress({ phase: `compressing (${compression})` });
  await w.run(tool.argv(plain));
  return finish(plain + tool.suffix, outputsDir, req.fileName, 'tar', { compression });
}
