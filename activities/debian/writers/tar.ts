// `tar`: the configured root as a tarball. rootfs.tar is already reproducible (sorted,
// numeric owners, clamped mtimes), so it is taken as is (linked) and compressed on every core
// with settings whose bytes do not depend on the thread count (compress.ts).
import * as path from 'node:path';
import { linkOrCopy } from '../mmdebstrap';
import { finish, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';
import { compressArgv } from './compress';

export async function writeTar(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  const compression = req.output.compression ?? 'none';
  const plain = path.join(w.workDir, 'rootfs.tar');
  // A link, not a copy: store files are never written again, and the compressors write a new
  // file and unlink this name, leaving the input's inode alone.
  await linkOrCopy(src.rootfsTar, plain);
  if (compression === 'none') return finish(plain, outputsDir, req.fileName, 'tar', { compression }, src.rootfsSha256);
  w.progress({ phase: `compressing (${compression})` });
  const { argv, out } = compressArgv(compression, plain);
  await w.run(argv);
  return finish(out, outputsDir, req.fileName, 'tar', { compression });
}
