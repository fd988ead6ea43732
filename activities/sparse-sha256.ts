// sha256 of a file with holes (a raw disk image: 2 GiB of which a few hundred MiB are
// written) without reading its holes. Reading a hole makes the kernel allocate and zero page
// cache for it, which on a busy host costs several times the hashing itself; a hole is known
// to read as zeros, so the hash takes zeros from memory instead. Node's fs cannot seek to data
// and holes (SEEK_DATA/SEEK_HOLE), python3's os.lseek can, and python3 is there wherever
// sborka is set up (scripts/setup makes the Temporal CLI's venv with it).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { promisify } from 'node:util';

/** Smaller files are hashed directly: the helper's start would cost more than their holes. */
const MIN_SIZE = 64 * 1024 * 1024;

const SCRIPT = `
import hashlib, os, sys
h = hashlib.sha256()
zeros = memoryview(bytes(4 << 20))
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
pos = 0
while pos < end:
    try:
        data = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:  # ENXIO: a hole up to the end
        data = end
    while pos < data:
        n = min(len(zeros), data - pos)
        h.update(zeros[:n])
        pos += n
    if pos >= end:
        break
    hole = os.lseek(fd, pos, os.SEEK_HOLE)
    os.lseek(fd, pos, os.SEEK_SET)
    while pos < hole:
        chunk = os.read(fd, min(4 << 20, hole - pos))
        if not chunk:
            sys.exit("short read")
        h.update(chunk)
        pos += len(chunk)
print(h.hexdigest())
`;

/** True when most of a large file is holes: hashing it with sparseSha256 saves reading them. */
export async function isSparse(file: string): Promise<boolean> {
  const st = await fs.stat(file);
  return st.isFile() && st.size >= MIN_SIZE && st.blocks * 512 < st.size / 2;
}

/** The file's sha256, its holes hashed as the zeros they read as. */
export async function sparseSha256(file: string): Promise<string> {
  const { stdout } = await promisify(execFile)('python3', ['-I', '-c', SCRIPT, file]);
  const digest = stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`the sparse hasher printed ${JSON.stringify(stdout.slice(0, 200))} for ${file}`);
  return digest;
}
