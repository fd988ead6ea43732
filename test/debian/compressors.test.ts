// The writers' compressors on every core give the same bytes as on one: each compresses the
// same input with 1 and with 3 threads (more than this host may have: the count asked for is
// what the encoder splits work by, if anything did) and the files must be identical, decompress
// to the input, and (xz) really hold several blocks, so the threads had something to split.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMPRESSORS, compressArgv, type CompressorOptions } from '../../activities/debian/writers/compress';
import { makeTmpDir, removeDir } from '../activities/helpers';

jest.setTimeout(120_000);

let dir: string;
beforeAll(() => {
  dir = makeTmpDir('sborka-compress-');
});
afterAll(() => removeDir(dir));

/** Compressible, not trivially so: words from a fixed pseudo-random sequence (no clock, no host). */
function sample(bytes: number): Buffer {
  const words = ['root', 'usr', 'lib', 'x86_64-linux-gnu', 'share', 'doc', 'copyright', 'changelog.Debian.gz', 'bin', 'etc', 'var', 'dpkg'];
  const out = Buffer.alloc(bytes);
  let x = 0x2545f491;
  let at = 0;
  while (at < bytes) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const w = x % 7 === 0 ? `${x.toString(36)}\n` : `${words[x % words.length]}/`;
    at += out.write(w, at);
  }
  return out;
}

function compress(name: keyof typeof COMPRESSORS, input: Buffer, tag: string, o: CompressorOptions): Buffer {
  const file = path.join(dir, `${name}-${tag}`);
  fs.writeFileSync(file, input);
  const argv = COMPRESSORS[name].argv(file, o);
  execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
  expect(fs.existsSync(file)).toBe(false);
  return fs.readFileSync(file + COMPRESSORS[name].suffix);
}

const DECOMPRESS: Record<keyof typeof COMPRESSORS, string[]> = { gzip: ['gzip', '-dc'], zstd: ['zstd', '-dcq'], xz: ['xz', '-dc'] };

function decompress(name: keyof typeof COMPRESSORS, data: Buffer): Buffer {
  const [cmd, ...args] = DECOMPRESS[name];
  return execFileSync(cmd!, args, { input: data, maxBuffer: 1 << 30 });
}

describe('parallel compressors', () => {
  // zstd's jobs are several MiB at its default level; pigz's blocks are 128 KiB; xz's block size
  // is made small here (the same encoder and settings otherwise) to get many blocks from 1 MiB.
  const cases: Array<[keyof typeof COMPRESSORS, number, Partial<CompressorOptions>]> = [
    ['gzip', 3 * 2 ** 20, {}],
    ['zstd', 20 * 2 ** 20, {}],
    ['xz', 2 ** 20, { xzBlockBytes: 128 * 1024 }],
    ['xz', 256 * 1024, {}],
  ];
  it.each(cases)('%s of %d bytes: the same with 1 and 3 threads', (name, size, extra) => {
    const input = sample(size);
    const one = compress(name, input, 'one', { threads: 1, ...extra });
    const three = compress(name, input, 'three', { threads: 3, ...extra });
    expect(one.length).toBeLessThan(input.length / 2);
    expect(three.equals(one)).toBe(true);
    expect(decompress(name, three).equals(input)).toBe(true);
    if (name === 'xz' && extra.xzBlockBytes) {
      const file = path.join(dir, 'list.xz');
      fs.writeFileSync(file, three);
      const list = execFileSync('xz', ['--robot', '--list', file], { encoding: 'utf8' }).split('\n');
      const blocks = Number(list.find((l) => l.startsWith('totals\t'))?.split('\t')[2]);
      expect(blocks).toBeGreaterThan(4);
    }
  });

  it('the writers ask for every core and name the file the suffix gives', () => {
    const { argv, out } = compressArgv('xz', '/x/rootfs.tar');
    expect(out).toBe('/x/rootfs.tar.xz');
    expect(argv.at(-1)).toBe('/x/rootfs.tar');
    expect(argv.at(-2)).toBe('--');
    expect(argv).toContain('--no-adjust');
    expect(compressArgv('gzip', '/x/f').argv).toEqual(expect.arrayContaining(['pigz', '-n', '-T']));
  });

  it('the stdlib gzip reader takes pigz\'s stream as one member holding the input', () => {
    const input = sample(600 * 1024);
    const gz = compress('gzip', input, 'member', { threads: 2 });
    // No name or time in the header: bytes 4..9 are flags 0, mtime 0.
    expect(gz[3]).toBe(0);
    expect(gz.readUInt32LE(4)).toBe(0);
    expect(execFileSync('gzip', ['-dc'], { input: gz }).equals(input)).toBe(true);
  });
});
