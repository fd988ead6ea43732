// Real Debian roots for the image tests, made by mmdebstrap once per machine and shared by
// the test files through os.tmpdir(), each in a directory named by the digest of what
// determines it (a lock keeps parallel jest workers from building one twice), and committed
// to a test store as the `configure` step's outputs, per the roots contract.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { withFileLock } from '../../activities/file-lock';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { StepStore } from '../../activities/store';
import type { Config } from '../../config/config';
import { quietSdkLogger, silentLogger } from '../activities/helpers';

export const SOURCE_DATE_EPOCH = 1_700_000_000;
/** The image tests' root: a kernel with its initramfs, systemd. */
export const IMAGE_ROOT_PACKAGES: readonly string[] = ['linux-image-cloud-amd64', 'systemd-sysv', 'udev'];

export interface TestRoot { tar: string; kernel: string; initrd: string }

/** Where the root of these packages lives: named by everything its mmdebstrap command line holds. */
export function testRootDir(packages: readonly string[]): string {
  const what = { suite: 'bookworm', variant: 'minbase', packages: [...new Set(packages)].sort(), sourceDateEpoch: SOURCE_DATE_EPOCH };
  return path.join(os.tmpdir(), `sborka-debian-root-${createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 16)}`);
}

/**
 * A bookworm amd64 minbase root with `packages` (by default the image tests' one; the Secure
 * Boot test adds the signed chain): built on first use, about 70 s, then shared by every
 * test file that asks for the same packages.
 */
export async function debianTestRoot(packages: readonly string[] = IMAGE_ROOT_PACKAGES): Promise<TestRoot> {
  const dir = testRootDir(packages);
  const tar = path.join(dir, 'rootfs.tar');
  fs.mkdirSync(dir, { recursive: true });
  await withFileLock(path.join(dir, 'lock'), undefined, async () => {
    if (fs.existsSync(tar)) return;
    const partial = `${tar}.${process.pid}.partial.tar`;
    execFileSync('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${[...new Set(packages)].sort().join(',')}`, 'bookworm', partial], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(SOURCE_DATE_EPOCH) }, stdio: 'ignore', timeout: 900_000,
    });
    fs.renameSync(partial, tar);
  });
  const names = execFileSync('tar', ['--list', `--file=${tar}`], { maxBuffer: 64 * 1024 * 1024 }).toString().split('\n');
  const find = (prefix: string) => names.find((n) => n.startsWith(`./boot/${prefix}`))?.slice(2);
  const kernel = find('vmlinuz-');
  const initrd = find('initrd.img-');
  if (!kernel || !initrd) throw new Error(`the test root ${tar} has no kernel or initrd`);
  return { tar, kernel, initrd };
}

/** Commits a root tarball as a `configure` step's outputs; returns its store key. */
export async function commitConfiguredRoot(config: Config, tar: string, values: Record<string, unknown>): Promise<string> {
  const store = new StepStore(config.storeDir);
  const staging = await store.createStaging();
  fs.copyFileSync(tar, path.join(staging.outputsDir, 'rootfs.tar'));
  const entry = await store.commit(staging, { kind: 'configure', values: { arch: 'x86_64', sourceDateEpoch: SOURCE_DATE_EPOCH, ...values } });
  return entry.key;
}

export function debianStep(step: Record<string, unknown>, inputs: Record<string, string>, buildId = 'build-1'): StepInput {
  return StepInput.parse({ buildId, variantId: 'debian-minimal.x86_64.cloud', toolchain: { name: 'debian', version: '1' }, step, inputs });
}

export function buildStep(id: string, output: Record<string, unknown>, fileName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, kind: 'build', needs: ['configure'], params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', output, fileName }, ...extra };
}

export function testStep(id: string, test: Record<string, unknown>, needs: string[]): Record<string, unknown> {
  return { id, kind: 'test', needs, params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', test } };
}

export function runner(config: Config): (input: StepInput, info?: Partial<Info>) => Promise<StepResult> {
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry(), killGraceMs: 3000 });
  return (input, info = {}) => new MockActivityEnvironment(info, { logger: quietSdkLogger }).run(runStep, input);
}

/** Pids of qemu processes started from under `dir` (their -drive/-serial paths lie there). */
export function qemuUnder(dir: string): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return cmd.startsWith('qemu-system') && cmd.includes(dir) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  });
}
