// apt.conf, sources.list and ~/.hasher/config for one branch and arch. Pure text: the
// host module writes these files into the step's work directory.
import type { Arch } from '../../plan/plan';
import type { Repo } from '../../plan/model';

/** Where a branch lives on an ALT mirror, and the key its lines are signed with. */
interface BranchLayout {
  path: string;
  key: string;
}

/**
 * The mirror layout (ftp.altlinux.org/pub/distributions/ALTLinux): Sisyphus at the top,
 * stable branches under <branch>/branch, and arches without a main repository (riscv64,
 * loongarch64, e2k) under ports/<arch>/.
 */
export function branchLayout(branch: string, arch: Arch): BranchLayout {
  const b = branch.toLowerCase();
  const port = PORTED.includes(arch) ? `ports/${arch.startsWith('e2k') ? 'e2k' : arch}/` : '';
  if (b === 'sisyphus') return { path: `${port}Sisyphus`, key: 'alt' };
  if (/^p\d+$/.test(b) || /^c\d+f\d+$/.test(b)) return { path: `${port}${b}/branch`, key: b };
  throw new Error(`unknown ALT branch "${branch}": expected sisyphus, pN or cNfM`);
}

const PORTED: readonly Arch[] = ['riscv64', 'loongarch64', 'e2kv4', 'e2kv5', 'e2kv6'];

/** The arch directory name in the repository (every e2k generation has its own). */
export function repoArch(arch: Arch): string {
  return arch;
}

export interface SourcesListInput {
  mirror: string;
  branch: string;
  arch: Arch;
  repos?: readonly Repo[];
  /** Local rpm-dir repositories (hasher's repo of partner builds): dir/<arch>/RPMS.hasher. */
  localRepos?: readonly string[];
}

/** apt-rpm's sources.list: `rpm [key] URL ARCH COMPONENTS` per arch, plus noarch. */
export function sourcesList(i: SourcesListInput): string {
  const { path, key } = branchLayout(i.branch, i.arch);
  const base = `${i.mirror.replace(/\/+$/, '')}/${path}`;
  const lines = [
    `# ${i.branch}/${i.arch}, written by sborka`,
    ...(i.localRepos ?? []).map((dir) => `rpm-dir file:${dir} ${i.arch} hasher`),
    `rpm [${key}] ${base} ${repoArch(i.arch)} classic`,
    `rpm [${key}] ${base} noarch classic`,
  ];
  for (const r of i.repos ?? []) {
    const components = r.components.length ? r.components.join(' ') : 'classic';
    // A repository's own key is named by the repo; apt checks it through vendors.list.
    const vendor = r.key ? `[${r.name}] ` : '';
    lines.push(`rpm ${vendor}${r.url} ${repoArch(i.arch)} ${components}`, `rpm ${vendor}${r.url} noarch ${components}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * apt.conf that reads nothing of the host's /etc/apt: the same pattern as
 * mkimage-profiles' doc/apt.conf.sample.
 */
export function aptConf(o: { sourcesList: string; vendorsList?: string }): string {
  return [
    'Dir::Etc::main "/dev/null";',
    'Dir::Etc::parts "/var/empty";',
    'Dir::Etc::SourceParts "/var/empty";',
    `Dir::Etc::sourcelist "${o.sourcesList}";`,
    ...(o.vendorsList ? [`Dir::Etc::vendorlist "${o.vendorsList}";`] : []),
    '',
  ].join('\n');
}

export interface HasherConfigInput {
  workdir: string;
  aptConfig: string;
  target: Arch;
  number: number;
  cacheDir?: string;
  /** Mount points hasher may request of hasher-priv: /proc, /dev/pts, /dev/shm, /dev/kvm. */
  mountpoints: readonly string[];
}

/**
 * ~/.hasher/config, a shell file hasher sources. Every tool of the step (and the hsh
 * calls mkimage makes) reads it through HOME, so `number` here keeps even those on the
 * step's own subconfig. Values are single-quoted; they are paths we chose, never recipe text.
 */
export function hasherConfig(c: HasherConfigInput): string {
  const q = (v: string) => {
    if (v.includes("'")) throw new Error(`hasher config value contains a quote: ${v}`);
    return `'${v}'`;
  };
  return [
    '# written by sborka for one step',
    `workdir=${q(c.workdir)}`,
    `apt_config=${q(c.aptConfig)}`,
    `def_target=${q(c.target)}`,
    `number=${c.number}`,
    ...(c.cacheDir ? [`cache_dir=${q(c.cacheDir)}`] : []),
    `known_mountpoints=${q(c.mountpoints.join(','))}`,
    'lock_nowait=1',
    '',
  ].join('\n');
}
