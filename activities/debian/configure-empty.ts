// configure with nothing to do: no settings, overlays or scripts, a root that prepare-root
// installed (not one it only unpacked), no kernel to make an initramfs for and no SSH host keys
// or sshd to handle. Then the prepared root is the configured one, byte for byte: its
// rootfs.tar is linked through (prepare-root's tar is already sorted, with numeric owners and
// clamped mtimes), with the digest its manifest has, instead of unpacking and packing it again.
// The members are listed to decide, without unpacking: any name that would give configure
// work (a vmlinu[xz]-*, an ssh_host_*_key, an sshd, wherever they are) takes the full path.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { StepParams } from '../../plan/step-params';
import type { KindContext, KindResult } from '../kinds/registry';
import { appendLogLines } from '../step-log';
import type { StoreEntry } from '../store';
import { linkOrCopy } from './mmdebstrap';
import { ROOTFS } from './prepare-root';
import { rootRecord } from './root-record';

const execFileAsync = promisify(execFile);

/** Base names that give configure work: a kernel (initramfs), host keys or sshd (ssh-host-keys.ts). */
const WORK = [/^vmlinu[xz]-/, /^ssh_host_[a-z0-9]+_key(\.pub)?$/, /^sshd$/];

/** What configure reads of the prepared root's step values. */
export interface RootFacts {
  arch: string;
  debArch: string;
  suite: string;
  sourceDateEpoch: number;
  unpacked: boolean;
  kernelVersion?: string;
}

/** Nothing set: every setting absent or an empty list (a setting added later counts as work). */
export function settingsEmpty(settings: Record<string, unknown>): boolean {
  return Object.values(settings).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
}

/** The member of the root's tar that gives configure work, if any. */
export async function memberWithWork(tarFile: string, signal: AbortSignal): Promise<string | undefined> {
  const { stdout } = await execFileAsync('tar', ['--list', `--file=${tarFile}`], { maxBuffer: 1 << 30, signal });
  return stdout.split('\n').find((name) => {
    const base = path.posix.basename(name);
    return WORK.some((re) => re.test(base));
  });
}

/** The step's result when the root needs nothing; undefined when configure has work. */
export async function unchangedRoot(ctx: KindContext, params: StepParams<'configure'>, input: StoreEntry, root: RootFacts): Promise<KindResult | undefined> {
  if (root.unpacked || params.overlays.length > 0 || params.scripts.length > 0 || !settingsEmpty(params.settings)) return undefined;
  const tar = path.join(input.outputsDir, ROOTFS);
  const file = input.manifest.outputs.files.find((f) => f.path === ROOTFS);
  if (!file) return undefined;
  const member = await memberWithWork(tar, ctx.signal);
  if (member !== undefined) {
    await appendLogLines(ctx.logPath, [`--- sborka: the root holds ${member}: configured in full`]);
    return undefined;
  }
  await linkOrCopy(tar, path.join(ctx.outputsDir, ROOTFS));
  await appendLogLines(ctx.logPath, ['--- sborka: nothing to configure (no settings, overlays, scripts, kernel or sshd): the prepared root is taken as it is']);
  return {
    values: {
      arch: root.arch, debArch: root.debArch, suite: root.suite, sourceDateEpoch: root.sourceDateEpoch,
      isolation: params.isolation ?? 'host-sandbox', unchanged: true, record: rootRecord(ctx),
    },
    digests: { [ROOTFS]: file.sha256 },
  };
}
