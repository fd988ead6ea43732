// The compressors of the image writers, on every core and still bit-identical whatever the
// thread count (test/debian/compressors.test.ts compresses the same input with 1 and N threads):
//  - gzip by pigz: fixed 128 KiB blocks, each primed with the previous 32 KiB, no name or time,
//    no --rsyncable; its bytes differ from gzip's but not between -p 1 and -p N;
//  - zstd -T: zstd's multi-threaded encoder cuts jobs by size, never by the worker count
//    (--single-thread, the other encoder, is never used);
//  - xz's multi-threaded encoder with a fixed --block-size (its own default follows the
//    preset, and -T1 would be the single-threaded encoder, a different stream): -T+1 is that
//    encoder with one thread. --no-adjust fails rather than fall back to single-threaded
//    under a memory limit (fewer threads, the only other adjustment, change nothing).
import * as os from 'node:os';
import type { Compression } from '../../../plan/formats';

/** 8 MiB: small roots still split over several cores; the dictionary (preset 6) is 8 MiB too. */
export const XZ_BLOCK_BYTES = 8 * 2 ** 20;

export interface CompressorOptions {
  /** Threads to use; the bytes do not depend on it. */
  threads: number;
  /** xz only: its block size (tests make it small to get many blocks from a small input). */
  xzBlockBytes?: number;
}

interface Compressor {
  /** Compresses `file` into `file + suffix` and removes `file` (its other links stay). */
  argv: (file: string, o: CompressorOptions) => string[];
  suffix: string;
}

export const COMPRESSORS: Record<Exclude<Compression, 'none'>, Compressor> = {
  gzip: { argv: (f, o) => ['pigz', '-6', '-n', '-T', '-b', '128', '-p', String(o.threads), '--force', '--', f], suffix: '.gz' },
  zstd: { argv: (f, o) => ['zstd', '-3', '-q', `-T${o.threads}`, '--no-progress', '--rm', '-f', '--', f], suffix: '.zst' },
  xz: {
    argv: (f, o) => ['xz', '-6', `--threads=${o.threads === 1 ? '+1' : o.threads}`, `--block-size=${o.xzBlockBytes ?? XZ_BLOCK_BYTES}`, '--no-adjust', '--check=crc64', '--force', '--', f],
    suffix: '.xz',
  },
};

/** Every core of this host: the output is the same with any other count. */
export function compressorThreads(): number {
  return Math.max(1, os.availableParallelism());
}

/** The argv compressing `file` (removed) into `file + suffix`, on every core. */
export function compressArgv(compression: Exclude<Compression, 'none'>, file: string): { argv: string[]; out: string } {
  const c = COMPRESSORS[compression];
  return { argv: c.argv(file, { threads: compressorThreads() }), out: file + c.suffix };
}
