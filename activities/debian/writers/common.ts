// What every image writer of the debian toolchain shares: the configured root it reads
// (the `configure` step's rootfs.tar and values), a scratch directory, the process runner,
// and identifiers derived from the plan so that two builds of one recipe are bit-identical.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { canonicalJson } from '../../../plan/cache-key';
import { Arch, relativePathProblem } from '../../../plan/schemas';
import type { Arch as ArchName } from '../../../plan/plan';
import type { Output } from '../../../plan/model';
import { badInput } from '../../failures';
import type { KindContext, RunOptions } from '../../kinds/registry';
import { runChecked, stepEnv, type ProcessOutcome } from '../../process-runner';
import { STAGING_ENV } from '../../orphans';
import { sha256File, type StoreEntry } from '../../store';

/** The values the `configure` step records next to rootfs.tar (the roots engineer's contract). */
export const ConfiguredRootValues = z.looseObject({
  /** Relative to the root: boot/vmlinuz-6.1.0-…; absent for containers. */
  kernel: z.string().optional(),
  initrd: z.string().optional(),
  arch: Arch.optional(),
  sourceDateEpoch: z.number().int().min(0),
});

export const ROOTFS_TAR = 'rootfs.tar';

/** The configured root an image is written from. */
export interface RootSource {
  /** Step id and store key of the configure step: recorded so the reproducible test can rebuild. */
  step: string;
  key: string;
  rootfsTar: string;
  rootfsSha256: string;
  kernel?: string;
  initrd?: string;
  sourceDateEpoch: number;
}

/** The recipe's Secure Boot key (secure-boot-key.ts): the key's bytes go to sbsign only, never to a log or value. */
export interface SigningKey {
  keyPem: Buffer;
  certPem: string;
  subject: string;
  fingerprint256: string;
}

/** One image to write: the build step's params, reduced to what the writers read. */
export interface ImageRequest {
  output: Output;
  fileName: string;
  arch: ArchName;
  branch: string;
  /** Seeds every identifier (UUIDs, disk id) so they follow the plan, not the clock. */
  seed: string;
  /** `secure-boot key ... cert ...`: read and checked by the build kind before any writer runs. */
  signing?: SigningKey;
}

export interface WriterContext {
  /** A fresh scratch directory of this one build. */
  workDir: string;
  signal: AbortSignal;
  progress: KindContext['progress'];
  /** Runs a program, its output going to the step log. */
  run(argv: readonly string[], options?: RunOptions): Promise<ProcessOutcome>;
  /** Runs a chatty program (debugfs echoes every command) with its output in `logFile` instead of the step log. */
  runQuiet(argv: readonly string[], logFile: string, options?: { env?: Record<string, string> }): Promise<ProcessOutcome>;
}

export interface WrittenImage {
  /** Values every writer records: format, file, sha256, size, and its own details. */
  values: Record<string, unknown> & { format: string; file: string; sha256: string; size: number };
}

export function writerContext(ctx: KindContext, workDir: string = ctx.workDir): WriterContext {
  return {
    workDir,
    signal: ctx.signal,
    progress: (u) => ctx.progress(u),
    run: (argv, options) => ctx.run(argv, { cwd: workDir, ...options }),
    runQuiet: (argv, logFile, options = {}) =>
      runChecked({
        argv, logPath: logFile, attempt: ctx.attempt, logger: ctx.logger, signal: ctx.signal, cwd: workDir,
        env: { ...stepEnv(workDir), ...options.env, [STAGING_ENV]: path.dirname(ctx.outputsDir) },
      }),
  };
}

/** The single input holding a configured root (rootfs.tar), with its contract values checked. */
export function rootSourceFrom(stepId: string, inputs: Record<string, StoreEntry>): RootSource {
  const roots = Object.entries(inputs).filter(([, e]) => e.manifest.outputs.files.some((f) => f.path === ROOTFS_TAR));
  if (roots.length !== 1) {
    throw badInput(`step "${stepId}": needs exactly one step whose outputs hold ${ROOTFS_TAR} (a configure step), found ${roots.length}: ${Object.keys(inputs).join(', ') || 'no inputs'}`);
  }
  const [rootStep, entry] = roots[0]!;
  return rootSourceOf(stepId, rootStep, entry);
}

export function rootSourceOf(stepId: string, rootStep: string, entry: StoreEntry): RootSource {
  const values = ConfiguredRootValues.safeParse(entry.manifest.outputs.values);
  if (!values.success) {
    const problems = values.error.issues.map((i) => `values.${i.path.join('.')}: ${i.message}`).join('; ');
    throw badInput(`step "${stepId}": input "${rootStep}" does not hold a configured root: ${problems}`);
  }
  const file = entry.manifest.outputs.files.find((f) => f.path === ROOTFS_TAR)!;
  return {
    step: rootStep, key: entry.key, rootfsTar: path.join(entry.outputsDir, ROOTFS_TAR), rootfsSha256: file.sha256,
    kernel: values.data.kernel, initrd: values.data.initrd, sourceDateEpoch: values.data.sourceDateEpoch,
  };
}

/** A seed from what the plan says about the image (never the clock, never the host). */
export function planSeed(params: { output: Output; fileName: string; arch: string; branch: string }): string {
  return sha256(canonicalJson({ purpose: 'sborka debian image identifiers', output: params.output, fileName: params.fileName, arch: params.arch, branch: params.branch }));
}

/** A random-looking (version 4 shaped) UUID that is a pure function of the seed and its purpose. */
export function derivedUuid(seed: string, purpose: string): string {
  const h = Buffer.from(sha256(`${seed}\0${purpose}`), 'hex').subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Unpacks the root as root: numeric owners, modes, xattrs (file capabilities) kept. */
export async function unpackRoot(w: WriterContext, src: RootSource, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  w.progress({ phase: 'unpacking root' });
  await w.run([
    'tar', '--extract', `--file=${src.rootfsTar}`, `--directory=${dir}`,
    '--numeric-owner', '--same-owner', '--preserve-permissions', '--xattrs', '--xattrs-include=*',
  ]);
}

/**
 * The digest and size every writer records; the file ends up at outputsDir/fileName. The
 * digest is computed here once (the build kind hands it to the store), unless the writer
 * knows it already (`sha256`: the file is an input's, whose manifest has it).
 */
export async function finish(file: string, outputsDir: string, fileName: string, format: string, extra: Record<string, unknown>, sha256?: string): Promise<WrittenImage> {
  // The schema allows one file name only (FileName); checked again here, where the bytes land.
  const problem = relativePathProblem(fileName) ?? (fileName.includes('/') ? 'is not a single file name' : undefined);
  if (problem) throw badInput(`build: params.fileName ${JSON.stringify(fileName)} ${problem}: the image stays inside the step's outputs`);
  const dest = path.join(outputsDir, fileName);
  await fs.mkdir(outputsDir, { recursive: true });
  await fs.rename(file, dest);
  const [digest, stat] = await Promise.all([sha256 ?? sha256File(dest), fs.stat(dest)]);
  return { values: { format, file: fileName, sha256: digest, size: stat.size, ...extra } };
}

/** Sets atime and mtime of a path (not following links) to the epoch. */
export async function clampTime(p: string, epoch: number): Promise<void> {
  await fs.lutimes(p, epoch, epoch);
}
