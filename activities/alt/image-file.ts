// Where mkimage-profiles left the image, found the way the tool leaves it rather than from
// what it prints: with QUIET its final report drops the `** image: ` prefix (lib/build.mk
// 100-103), and the line goes through SHORTEN (lib/common.mk 10-23: BUILDDIR -> build,
// $HOME -> ~), so the printed path is not a path. What is reliable:
//   1. BUILDDIR/build.log: postprocess writes `** image: FULL-PATH [SIZE]` to stderr
//      (image.in/Makefile 101), and lib/log.mk 20-38 sends stderr to the log whatever DEBUG;
//   2. LOGDIR/<file>.reports/build.log, its copy when REPORT is on (reports.mk 36-38);
//   3. IMAGEDIR itself: <IMAGE_NAME>[-VERSION]-<STATUS><DATE>-<ARCH>.<TYPE> (image.in/Makefile
//      44-47), and unless NO_SYMLINK the <IMAGE_NAME>-latest-<ARCH>.<TYPE> link to it (:104-107).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseImageLine } from './image-line';

export interface FoundImage {
  path: string;
  /** `ls -lh` size when the log said it. */
  size?: string;
  via: string;
}

/** main.mk 19-23: the image file's name part, regular -> alt-<branch> off Sisyphus. */
export function imageName(targetName: string, branch: string): string {
  const b = branch.toLowerCase();
  return b === 'sisyphus' ? targetName : targetName.split('regular').join(`alt-${b}`);
}

async function lastImageLine(log: string): Promise<FoundImage | undefined> {
  const text = await fs.readFile(log, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const lines = text.split('\n').map((l) => parseImageLine(l)).filter((l) => l !== undefined);
  const last = lines[lines.length - 1];
  if (!last || !(await isFile(last.path))) return undefined;
  return { path: last.path, size: last.size, via: log };
}

async function isFile(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isFile() === true;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The image, or why none was found (each place looked at). */
export async function findImage(o: { buildDir: string; imageDir: string; logDir: string; name: string; arch: string; type: string }): Promise<FoundImage | { problem: string }> {
  const fromLog = await lastImageLine(path.join(o.buildDir, 'build.log'));
  if (fromLog) return fromLog;
  const reports = (await fs.readdir(o.logDir).catch(() => [] as string[])).filter((f) => f.endsWith('.reports')).sort();
  for (const r of reports) {
    const found = await lastImageLine(path.join(o.logDir, r, 'build.log'));
    if (found) return found;
  }
  const names = await fs.readdir(o.imageDir).catch(() => [] as string[]);
  const link = `${o.name}-latest-${o.arch}.${o.type}`;
  if (names.includes(link)) {
    const target = path.resolve(o.imageDir, await fs.readlink(path.join(o.imageDir, link)).catch(() => link));
    if (await isFile(target)) return { path: target, via: `${o.imageDir}/${link}` };
  }
  const pattern = new RegExp(`^${escape(o.name)}(-.+)?-${escape(o.arch)}\\.${escape(o.type)}$`);
  const files: string[] = [];
  for (const n of names.filter((f) => pattern.test(f) && f !== link)) {
    if ((await fs.lstat(path.join(o.imageDir, n))).isFile()) files.push(n);
  }
  if (files.length === 1) return { path: path.join(o.imageDir, files[0]!), via: o.imageDir };
  const where = `no "** image:" line in ${path.join(o.buildDir, 'build.log')} or the reports' logs, and ${files.length ? `several images in ${o.imageDir} (${files.join(', ')})` : `no ${o.name}-*-${o.arch}.${o.type} in ${o.imageDir}`}`;
  return { problem: where };
}
