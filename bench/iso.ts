// The debian toolchain's live ISO writer against the plain tools run by hand on the same
// configured root, in one run, printed as JSON:
//  - sborka: activities/debian/writers/iso.ts (unpack, live initrd, reproducible mksquashfs,
//    GRUB BIOS + EFI images, FAT image, hybrid xorriso);
//  - baseline: what a person types for a live ISO's data: tar -x of the root, mksquashfs with
//    its defaults but zstd (all CPUs, no -reproducible), the kernel and initrd copied, and
//    `xorriso -as mkisofs -r -V LIVE` of that tree (no boot images: the ratio prices them in).
// Usage (as root): npx tsc -p . && node build/bench/iso.js [rootfs.tar [kernel initrd]]
// The root defaults to the image tests' shared bookworm root (test/debian/image-fixture.ts
// builds it on first use).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planSeed, type WriterContext } from '../activities/debian/writers';
import { writeIso } from '../activities/debian/writers/iso';
import type { ProcessOutcome } from '../activities/process-runner';

const FIXTURE = path.join(os.tmpdir(), 'sborka-debian-image-fixture-v1', 'rootfs.tar');
const EPOCH = 1_700_000_000;

function runTool(argv: readonly string[], cwd: string, env: Record<string, string> = {}, logFile?: string): Promise<ProcessOutcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      if (logFile) fs.appendFileSync(logFile, d);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`${argv.join(' ')} failed (${signal ?? code}):\n${tail}`));
      else resolve({ exitCode: code, signal, durationMs: Date.now() - started } as unknown as ProcessOutcome);
    });
  });
}

function context(workDir: string): WriterContext {
  return {
    workDir,
    signal: new AbortController().signal,
    progress: () => undefined,
    run: (argv, o) => runTool(argv, o?.cwd ?? workDir, o?.env),
    runQuiet: (argv, logFile, o) => runTool(argv, workDir, o?.env, logFile),
  };
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await f();
  return { ms: Number((process.hrtime.bigint() - started) / 1_000_000n), value };
}

async function baseline(tar: string, kernel: string, initrd: string, dir: string): Promise<string> {
  const root = path.join(dir, 'root');
  const live = path.join(dir, 'iso', 'live');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(live, { recursive: true });
  await runTool(['tar', '-xf', tar, '-C', root, '--numeric-owner', '--xattrs', '--xattrs-include=*'], dir);
  await runTool(['mksquashfs', root, path.join(live, 'filesystem.squashfs'), '-noappend', '-no-progress', '-comp', 'zstd'], dir);
  fs.copyFileSync(path.join(root, kernel), path.join(live, 'vmlinuz'));
  fs.copyFileSync(path.join(root, initrd), path.join(live, 'initrd.img'));
  const out = path.join(dir, 'plain.iso');
  await runTool(['xorriso', '-as', 'mkisofs', '-r', '-V', 'LIVE', '-o', out, path.join(dir, 'iso')], dir);
  return out;
}

async function main(): Promise<void> {
  const tar = process.argv[2] ?? FIXTURE;
  if (!fs.existsSync(tar)) throw new Error(`no root at ${tar}: pass a configured rootfs.tar, or run the image tests once (test/debian/image-fixture.ts makes ${FIXTURE})`);
  const names = await new Promise<string[]>((resolve, reject) => {
    const c = spawn('tar', ['--list', `--file=${tar}`]);
    let text = '';
    c.stdout.on('data', (d) => (text += d));
    c.on('error', reject);
    c.on('close', () => resolve(text.split('\n')));
  });
  const find = (prefix: string) => names.find((n) => n.startsWith(`./boot/${prefix}`))?.slice(2);
  const kernel = process.argv[3] ?? find('vmlinuz-');
  const initrd = process.argv[4] ?? find('initrd.img-');
  if (!kernel || !initrd) throw new Error(`${tar} has no /boot/vmlinuz-* and /boot/initrd.img-*`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-iso-'));
  try {
    const work = path.join(dir, 'work');
    const outputs = path.join(dir, 'outputs');
    fs.mkdirSync(work);
    fs.mkdirSync(outputs);
    const params = { output: { format: 'iso' as const }, fileName: 'bench-live.iso', arch: 'x86_64' as const, branch: 'bookworm' };
    const src = { step: 'configure', key: '0'.repeat(64), rootfsTar: tar, rootfsSha256: '', kernel, initrd, sourceDateEpoch: EPOCH };
    // The baseline first: sborka then meets the page cache the baseline warmed for the root tar.
    const plain = await timed(() => baseline(tar, kernel, initrd, path.join(dir, 'baseline')));
    const iso = await timed(() => writeIso(context(work), src, { ...params, seed: planSeed(params) }, outputs));
    const ratio = Math.round((iso.ms / plain.ms) * 1000) / 1000;
    process.stdout.write(`${JSON.stringify({
      bench: 'iso',
      root: tar,
      host: { cpus: os.cpus().length, loadAverage: os.loadavg().map((l) => Math.round(l * 10) / 10), node: process.version },
      sborka: { seconds: iso.ms / 1000, isoBytes: iso.value.values.size, sha256: iso.value.values.sha256, what: 'hybrid live ISO: BIOS+UEFI, CD+USB, reproducible' },
      baseline: { seconds: plain.ms / 1000, isoBytes: fs.statSync(plain.value).size, what: 'tar -x; mksquashfs -comp zstd (defaults, all CPUs); xorriso -as mkisofs -r of the tree, no boot images' },
      ratio,
    }, null, 2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
