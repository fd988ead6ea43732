// Command lines of hasher, vm-run and mkimage-profiles, built as argv arrays. Pure: the
// contract tests run every argv built here through fakes that parse options with the
// same getopt long-option lists as the real tools.
import type { Arch } from '../../plan/plan';

export interface HasherCommon {
  workdir: string;
  /** hasher-priv subconfig; each concurrent step gets its own. */
  number: number;
  /** Fail at once on a busy workdir or subconfig instead of blocking the step. */
  waitLock?: boolean;
}

const lockOption = (c: HasherCommon) => (c.waitLock ? '--wait-lock' : '--no-wait-lock');

/**
 * `hsh --initroot-only`: aptbox + chroot with the base set, nothing built. The workdir
 * goes last because hsh takes a positional workdir only before the package arguments.
 */
export function hshInitroot(c: HasherCommon & { target: Arch; aptConfig: string; repo?: string; withQemu?: string; withStuff?: boolean }): string[] {
  return [
    'hsh', '--initroot-only', lockOption(c), `--number=${c.number}`, `--target=${c.target}`, `--apt-config=${c.aptConfig}`,
    c.withStuff ? '--with-stuff' : '--without-stuff',
    ...(c.repo ? [`--repo=${c.repo}`] : []),
    ...(c.withQemu ? [`--with-qemu=${c.withQemu}`] : []),
    '--', c.workdir,
  ];
}

export function hshCleanup(c: HasherCommon): string[] {
  return ['hsh', '--cleanup-only', lockOption(c), `--number=${c.number}`, '--', c.workdir];
}

/** Builds source packages: results land in <repo>/<target>/RPMS.hasher. */
export function hshBuild(c: HasherCommon & { target: Arch; aptConfig: string; repo: string; srpms: readonly string[]; withQemu?: string }): string[] {
  return [
    'hsh', lockOption(c), `--number=${c.number}`, `--target=${c.target}`, `--apt-config=${c.aptConfig}`, `--repo=${c.repo}`,
    '--with-stuff', ...(c.withQemu ? [`--with-qemu=${c.withQemu}`] : []),
    '--', c.workdir, ...c.srpms,
  ];
}

/** hsh-install resolves names through the workdir's aptbox; `--` keeps package names from being read as options. */
export function hshInstall(c: HasherCommon & { packages: readonly string[]; mountpoints?: readonly string[] }): string[] {
  return [
    'hsh-install', lockOption(c), `--number=${c.number}`,
    ...(c.mountpoints?.length ? [`--mountpoints=${c.mountpoints.join(',')}`] : []),
    '--', c.workdir, ...c.packages,
  ];
}

/**
 * hsh-copy: files, or a directory's contents, into the chroot as the builder. No --number:
 * its getopt list takes none (hsh-copy:69), the subconfig comes from the chroot (:115).
 */
export function hshCopy(c: HasherCommon & { sources: readonly string[]; dest: string }): string[] {
  return ['hsh-copy', lockOption(c), `--workdir=${c.workdir}`, '--', ...c.sources, c.dest];
}

/**
 * hsh-run. GNU getopt permutes arguments, so without `--` the program's own options
 * (rpm's -qa) would be taken as hsh-run's and fail. No --rooter by default: vm-run
 * under fakeroot sees itself as root and runs the command without a VM.
 */
export function hshRun(c: HasherCommon & { program: readonly string[]; mountpoints?: readonly string[]; rooter?: boolean }): string[] {
  return [
    'hsh-run', lockOption(c), `--number=${c.number}`,
    ...(c.rooter ? ['--rooter'] : []),
    ...(c.mountpoints?.length ? [`--mountpoints=${c.mountpoints.join(',')}`] : []),
    '--', c.workdir, ...c.program,
  ];
}

export type KvmMode = 'try' | 'tcg';

/**
 * vm-run inside hasher. `--kvm=cond` is never built: without KVM it exits 0 having run
 * nothing, which a test would read as a pass.
 */
export function vmRun(o: { kvm: KvmMode; command: readonly string[]; mem?: string; cpu?: number }): string[] {
  return [
    'vm-run', o.kvm === 'tcg' ? '--tcg' : '--kvm=try', '--sbin',
    ...(o.mem ? [`--mem=${o.mem}`] : []),
    ...(o.cpu ? [`--cpu=${o.cpu}`] : []),
    '--', ...o.command,
  ];
}

/** Arches vm-run boots; elsewhere rpm-build-vm-run is a stub that runs nothing and exits 0. */
export const VM_RUN_ARCHES: readonly Arch[] = ['x86_64', 'i586', 'aarch64', 'armh', 'ppc64le'];

/** The option of each interpreter that takes a program's text (sh -c, perl -e), by its name. */
const TEXT_OPTION: Record<string, string> = { sh: '-c', bash: '-c', dash: '-c', python3: '-c', python: '-c', perl: '-e' };

/** Linux's MAX_ARG_STRLEN: one argv string longer than this fails execve with E2BIG. */
export const MAX_ARG_BYTES = 128 * 1024;

/**
 * A script's text as the interpreter's argv, for vm-run: given several arguments it runs
 * them as they are (a single one it would eval), so the text is never re-read by a shell
 * of ours and needs no file in the chroot.
 */
export function scriptArgv(interpreter: string, text: string): string[] {
  const option = TEXT_OPTION[interpreter.split('/').pop() ?? ''];
  if (!option) throw new Error(`interpreter ${interpreter} cannot be given a script's text inside vm-run (known: ${Object.keys(TEXT_OPTION).join(', ')})`);
  if (Buffer.byteLength(text) > MAX_ARG_BYTES) throw new Error(`the script is over ${MAX_ARG_BYTES} bytes, more than one argument to vm-run may carry`);
  return [interpreter, option, text];
}

export interface MakeImage {
  profilesDir: string;
  arch: Arch;
  branch: string;
  aptConf: string;
  buildDir: string;
  imageDir: string;
  logDir: string;
  /** `<class>/<name>.<type>`, e.g. distro/regular-xfce.iso. */
  target: string;
  vmSizeBytes?: number;
  /** Fixed image date (DATE=YYYYMMDD) so a rebuild names its image the same. */
  date?: string;
}

/**
 * mkimage-profiles. REPORT needs DEBUG (the top Makefile turns it on with a warning; we
 * say it). LOGDIR is passed explicitly: m-p only honours it that way. NO_SYMLINK keeps
 * IMAGEDIR to the image itself.
 */
export function makeImage(m: MakeImage): string[] {
  const branch = m.branch.toLowerCase() === 'sisyphus' ? 'sisyphus' : m.branch;
  return [
    'make', '-C', m.profilesDir,
    `ARCH=${m.arch}`, `BRANCH=${branch}`, `APTCONF=${m.aptConf}`,
    `BUILDDIR=${m.buildDir}`, `IMAGEDIR=${m.imageDir}`, `LOGDIR=${m.logDir}`,
    'REPORT=1', 'DEBUG=1', 'CLEAN=1', 'NO_SYMLINK=1', 'QUIET=1',
    ...(m.date ? [`DATE=${m.date}`] : []),
    ...(m.vmSizeBytes ? [`VM_SIZE=${m.vmSizeBytes}`] : []),
    m.target,
  ];
}
