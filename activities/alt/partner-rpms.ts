// A partner's own RPMs on the alt toolchain: their %pre/%post are the partner's code, so
// they never run through hsh-install (rpmi -i in the hasher chroot on the host kernel,
// hsh-install:156-158). The distribution's packages of the lock install as before; the
// partner's are copied in with hsh-copy and installed by rpm either inside vm-run (their
// scriptlets run in the VM, for roots whose programs run) or with --noscripts (roots that
// are only queried). The files come from the store, so each is checked first: a plain file
// of the lock's name and digest, never a link (hsh-copy's cpio -L would follow one).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { badInput } from '../failures';
import type { KindContext } from '../kinds/registry';
import * as argv from './argv';
import type { Carried } from './context';
import { PARTNER_RPMS_IN_ROOT } from './feature';
import { rpmFileName, type Lock } from './rpm-list';
import { runTool } from './tools';

/** What of a hasher root (kinds/shared.ts Root) the install needs. */
interface RootSlot { slot: { workdir: string; number: number }; kvm: boolean; mountpoints: string[] }


/** How a partner package's scriptlets are treated: run inside vm-run, or not at all. */
export type PartnerInstall = 'vm' | 'no-scripts';

export interface PartnerRpms {
  /** A directory holding only the checked RPM files, for hsh-copy. */
  dir: string;
  files: string[];
  names: Set<string>;
}

/**
 * The built partner RPMs the lock holds (all of them before there is a lock): where the
 * repositories carry the same name, apt may have installed theirs instead.
 */
export function lockedBuilt(lock: Pick<Lock, 'built'> & { packages?: Lock['packages'] }): Lock['built'] {
  return lock.built.filter((b) => {
    const p = rpmFileName(b.file);
    return !lock.packages || lock.packages.some((l) => l.name === p?.name && l.version === p.version && l.release === p.release);
  });
}

/**
 * The partner RPMs a lock names, checked against it: base names only, each a regular file
 * (no symlink, no hard link) in <repo>/<arch>/RPMS.hasher with the lock's sha256.
 */
export async function partnerRpms(ctx: KindContext, carried: Pick<Carried, 'partnerRepo'>, lock: Pick<Lock, 'arch' | 'built'> & { packages?: Lock['packages'] }): Promise<PartnerRpms | undefined> {
  const built = lockedBuilt(lock);
  if (built.length === 0) return undefined;
  const refuse = (why: string) => badInput(`step "${ctx.step.id}": partner RPMs: ${why}`);
  if (!carried.partnerRepo) throw refuse(`the lock names ${built.length} built package(s) but no input carries them`);
  const from = path.join(carried.partnerRepo, lock.arch, 'RPMS.hasher');
  const dir = path.join(ctx.workDir, 'partner-rpms-checked');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const names = new Set<string>();
  for (const b of built) {
    const parsed = rpmFileName(b.file);
    if (b.file !== path.basename(b.file) || b.file.startsWith('.') || !parsed) throw refuse(`${JSON.stringify(b.file)} is not a plain name-version-release.arch.rpm file name`);
    const src = path.join(from, b.file);
    const st = await fs.lstat(src).catch(() => undefined);
    if (!st) throw refuse(`${b.file} is missing from ${from}`);
    if (!st.isFile()) throw refuse(`${b.file} is ${st.isSymbolicLink() ? 'a symlink' : 'not a regular file'}: refused`);
    if (st.nlink > 1) throw refuse(`${b.file} has ${st.nlink} names (a hard link): refused`);
    const data = await fs.readFile(src);
    if (createHash('sha256').update(data).digest('hex') !== b.sha256) throw refuse(`${b.file} differs from the lock's sha256`);
    await fs.writeFile(path.join(dir, b.file), data, { mode: 0o644 });
    names.add(parsed.name);
  }
  return { dir, files: built.map((b) => b.file).sort(), names };
}

/**
 * The partner RPMs into the root: hsh-copy, then rpm -i inside vm-run (scriptlets in the
 * VM; vm-run must be installed and the root's mount points hold /dev/kvm where KVM is
 * used) or through hsh-run --rooter with --noscripts --notriggers (nothing of theirs runs).
 */
export async function installPartnerRpms(ctx: KindContext, root: RootSlot, rpms: PartnerRpms, how: PartnerInstall): Promise<void> {
  const c = { workdir: root.slot.workdir, number: root.slot.number };
  ctx.progress({ phase: `partner packages (${how === 'vm' ? 'scriptlets in vm-run' : 'no scriptlets'})` });
  await runTool(ctx, argv.hshCopy({ ...c, sources: [rpms.dir], dest: PARTNER_RPMS_IN_ROOT }));
  const files = rpms.files.map((f) => `${PARTNER_RPMS_IN_ROOT}/${f}`);
  const program = how === 'vm'
    ? argv.vmRun({ kvm: root.kvm ? 'try' : 'tcg', command: ['rpm', '-i', '--ignorearch', '--', ...files] })
    : ['rpm', '-i', '--ignorearch', '--noscripts', '--notriggers', '--', ...files];
  const run = await runTool(ctx, argv.hshRun({ ...c, program, mountpoints: how === 'vm' ? root.mountpoints : undefined, rooter: how !== 'vm' }), { keepStdout: true });
  const skipped = VM_SKIPPED.find((m) => [...run.stdout, ...run.stderr].some((l) => l.includes(m)));
  if (skipped) throw badInput(`step "${ctx.step.id}": vm-run installed nothing of the partner's packages (${skipped})`);
}

/** What vm-run prints when it ran nothing (--kvm=cond without KVM; the stub on other arches). */
export const VM_SKIPPED = ['Not running due to no KVM support', 'vm-run is not supported on your architecture'];
