// `qcow2`: the raw disk (img writer) converted by qemu-img. qcow2 holds no time stamps, and
// qemu-img convert allocates clusters in guest order, so the same raw image gives the same file.
import * as path from 'node:path';
import { finish, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';
import { writeImg } from './img';

export async function writeQcow2(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  const rawDir = path.join(w.workDir, 'raw');
  const raw = await writeImg(w, src, { ...req, fileName: 'disk.img' }, rawDir);
  const out = path.join(w.workDir, 'disk.qcow2');
  w.progress({ phase: 'qemu-img convert' });
  await w.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1,cluster_size=65536', path.join(rawDir, 'disk.img'), out]);
  const { format: _f, file: _n, sha256: rawSha256, size: rawSize, ...disk } = raw.values;
  return finish(out, outputsDir, req.fileName, 'qcow2', { ...disk, rawSha256, rawSize });
}
