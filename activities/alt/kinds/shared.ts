// What the alt step kinds share: a hasher root of the step's own, the rpm -qa of it, and
// the lock's and partner repo's way from one step's outputs into the next root.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Arch } from '../../../plan/plan';
import type { Repo } from '../../../plan/model';
import { badInput, stepFailed } from '../../failures';
import type { KindContext } from '../../kinds/registry';
import * as argv from '../argv';
import type { Carried } from '../context';
import { acquireSlot, archMode, checkPriv, kvmAvailable, MIN_UID, rootProblem, writeStepFiles, type AltHost, type Slot, type StepFiles } from '../host';
import { parseRpmQa, RPM_QUERY_FORMAT, type Lock, type RpmPackage } from '../rpm-list';
import { runTool } from '../tools';
import { installPartnerRpms, partnerRpms, type PartnerInstall, type PartnerRpms } from '../partner-rpms';

/** The host is read once per worker, when the first alt step runs. */
export type HostSource = () => AltHost;

export interface Root {
  slot: Slot;
  files: StepFiles;
  mountpoints: string[];
  kvm: boolean;
  withQemu?: string;
}

/**
 * A hasher root of its own for one step: a free subconfig number and a fresh workdir,
 * hasher-priv checked first (so a missing /dev/kvm is reported with its fix, not as a
 * failed mount deep in a build), the step's apt and hasher config written, and the root
 * cleaned up afterwards whatever happens.
 */
export async function withRoot<T>(
  ctx: KindContext,
  host: AltHost,
  o: { branch: string; arch: Arch; repos: readonly Repo[]; localRepos?: string[]; needKvm?: boolean; initroot?: { withStuff?: boolean; repo?: string } },
  fn: (root: Root) => Promise<T>,
): Promise<T> {
  const mode = archMode(host, o.arch);
  if (mode.mode === 'refused') throw badInput(`step "${ctx.step.id}": ${mode.why}`);
  // hasher-priv would refuse every call (hasher-privd.c 127-131): say so before taking a slot.
  if (host.uid < MIN_UID) throw badInput(`step "${ctx.step.id}": ${rootProblem(host)}`);
  const kvm = o.needKvm === true && (await kvmAvailable(host));
  const mountpoints = ['/proc', '/dev/pts', ...(kvm ? ['/dev/kvm'] : [])];
  const slot = await acquireSlot(host, `${ctx.step.id} attempt ${ctx.attempt}`, ctx.signal, (msg) => ctx.progress({ phase: 'waiting', lastLine: msg }));
  try {
    const problems = await checkPriv(host, slot.number, { mountpoints: ['/proc', '/dev/pts'], devices: kvm ? ['/dev/kvm'] : [], workdirs: [slot.workdir] });
    if (problems.length) throw badInput(`step "${ctx.step.id}": this host's hasher-priv is not set up for it:\n  ${problems.join('\n  ')}`);
    let files: StepFiles;
    try {
      files = await writeStepFiles(ctx.workDir, { mirror: host.mirror, branch: o.branch, arch: o.arch, repos: o.repos, localRepos: o.localRepos, workdir: slot.workdir, number: slot.number, mountpoints });
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    const withQemu = mode.mode === 'emulated' ? mode.qemu : undefined;
    const root: Root = { slot, files, mountpoints, kvm, withQemu };
    try {
      if (o.initroot) {
        ctx.progress({ phase: 'initroot' });
        await runTool(ctx, argv.hshInitroot({ workdir: slot.workdir, number: slot.number, target: o.arch, aptConfig: files.aptConf, withQemu, withStuff: o.initroot.withStuff, repo: o.initroot.repo }));
      }
      return await fn(root);
    } finally {
      await runTool(ctx, argv.hshCleanup({ workdir: slot.workdir, number: slot.number })).catch((err: unknown) =>
        ctx.logger.warn({ err: (err as Error).message }, 'hsh --cleanup-only failed'));
    }
  } finally {
    await slot.release();
  }
}

/** `rpm -qa` of the root through hsh-run, in the columns rpm-list.ts reads. */
export async function queryRoot(ctx: KindContext, root: Root): Promise<RpmPackage[]> {
  ctx.progress({ phase: 'rpm -qa' });
  const run = await runTool(ctx, argv.hshRun({ workdir: root.slot.workdir, number: root.slot.number, program: ['rpm', '-qa', '--qf', RPM_QUERY_FORMAT] }), { keepStdout: true });
  try {
    return parseRpmQa(run.stdout);
  } catch (err) {
    throw stepFailed(`step "${ctx.step.id}": ${(err as Error).message}`);
  }
}

export function installArgv(root: Root, packages: readonly string[]): string[] {
  return argv.hshInstall({ workdir: root.slot.workdir, number: root.slot.number, packages, mountpoints: root.mountpoints });
}

export function kernelPackages(kernel: string | undefined): string[] {
  return kernel ? [`kernel-image-${kernel}`] : [];
}

/** Names to install for a lock: what was asked for (the rest comes as dependencies, checked after). */
export function installNames(lock: Lock): string[] {
  return [...lock.requested.packages, ...kernelPackages(lock.requested.kernel)];
}

/** hasher may write to its work repo, so partner RPMs are copied out of the store first. */
export async function stagePartnerRepo(ctx: KindContext, carried: Carried): Promise<string | undefined> {
  if (!carried.partnerRepo) return undefined;
  const repo = path.join(ctx.workDir, 'partner-repo');
  await fs.cp(carried.partnerRepo, repo, { recursive: true });
  return repo;
}


/**
 * The lock's distribution packages through hsh-install (their scriptlets in the hasher
 * chroot: trusted); for a partner's root (`partner` set) without the partner's own RPMs,
 * which are returned for installPartnerRpms. The step log says which went where.
 */
export async function installDistribution(ctx: KindContext, root: Root, carried: Carried, o: { partner?: PartnerInstall; extra?: readonly string[] }): Promise<PartnerRpms | undefined> {
  const extra = o.extra ?? [];
  const rpms = o.partner ? await partnerRpms(ctx, carried, carried.lock) : undefined;
  if (!rpms) {
    await runTool(ctx, installArgv(root, [...installNames(carried.lock), ...extra]));
    return undefined;
  }
  const trusted = carried.lock.packages.map((p) => p.name).filter((n) => !rpms.names.has(n));
  await fs.appendFile(ctx.logPath, `--- sborka: ${trusted.length} distribution package(s) through hsh-install (scriptlets in the hasher chroot); partner package(s) ${[...rpms.names].sort().join(', ')} through rpm ${o.partner === 'vm' ? 'inside vm-run (scriptlets in the VM)' : '--noscripts (no scriptlets run)'}\n`);
  await runTool(ctx, installArgv(root, [...trusted, ...extra]));
  return rpms;
}

/** installDistribution, then the partner's RPMs as `partner` says. */
export async function installLock(ctx: KindContext, root: Root, carried: Carried, o: { partner?: PartnerInstall; extra?: readonly string[] }): Promise<void> {
  const rpms = await installDistribution(ctx, root, carried, o);
  if (rpms && o.partner) await installPartnerRpms(ctx, root, rpms, o.partner);
}
