// Digest of files a step reads from the host rather than from the store (an archive of a
// project directory, an overlay): part of its cache key, so an edited file means a rebuild.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** sha256 over every entry under root/include (sorted): its path, type, mode and content. */
export async function digestTree(root: string, include: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (rel: string): Promise<void> => {
    const full = path.join(root, rel);
    const st = await fs.lstat(full);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      hash.update(`d ${rel} ${mode}\0`);
      for (const name of (await fs.readdir(full)).sort()) await visit(path.join(rel, name));
    } else if (st.isSymbolicLink()) {
      hash.update(`l ${rel} ${await fs.readlink(full)}\0`);
    } else if (st.isFile()) {
      hash.update(`f ${rel} ${mode} ${st.size}\0`);
      for await (const chunk of createReadStream(full)) hash.update(chunk as Buffer);
    } else {
      hash.update(`o ${rel}\0`);
    }
  };
  for (const rel of [...include].sort()) await visit(rel);
  return hash.digest('hex');
}
