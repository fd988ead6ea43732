// Hashing a file with holes without reading them gives the digest of every byte it reads as.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSparse, sparseSha256 } from '../../activities/sparse-sha256';
import { sha256File } from '../../activities/store';
import { makeTmpDir, removeDir } from './helpers';

const MiB = 1024 * 1024;
let dir: string;
beforeAll(() => (dir = makeTmpDir('sborka-sparse-')));
afterAll(() => removeDir(dir));

/** The reference: every byte read, holes included. */
function readAllSha256(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * MiB);
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

/** A file of `size` bytes, holes everywhere but the given (offset, text) pieces. */
function sparseFile(name: string, size: number, pieces: Array<[number, string]>): string {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  for (const [offset, text] of pieces) fs.writeSync(fd, text, offset);
  fs.closeSync(fd);
  return file;
}

test.each([
  ['data at both ends and in the middle', [[0, 'MBR'], [65 * MiB + 3, 'middle, not block aligned'], [128 * MiB - 4, 'end!']]],
  ['a hole at the end', [[MiB, 'partition']]],
  ['nothing but a hole', []],
] as Array<[string, Array<[number, string]>]>)('%s', async (name, pieces) => {
  const file = sparseFile(`${name.replace(/\W+/g, '-')}.img`, 128 * MiB, pieces);
  expect(await isSparse(file)).toBe(true);
  const expected = readAllSha256(file);
  expect(await sparseSha256(file)).toBe(expected);
  expect(await sha256File(file)).toBe(expected);
});

test('small or dense files are not worth the helper', async () => {
  const small = sparseFile('small.img', 8 * MiB, [[0, 'x']]);
  expect(await isSparse(small)).toBe(false);
  const dense = path.join(dir, 'dense.bin');
  fs.writeFileSync(dense, Buffer.alloc(70 * MiB, 7));
  expect(await isSparse(dense)).toBe(false);
  expect(await sha256File(dense)).toBe(readAllSha256(dense));
});
