// What `sborka worker --toolchain alt` checks before it takes any step: every problem of
// the host at once, each with the command or line that fixes it. A step would fail on each
// of these later, one at a time, deep in hasher's or mkimage-profiles' output.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { branchLayout, repoArch } from './apt-conf';
import { VM_RUN_ARCHES } from './argv';
import { privProblems, subconfigNumbers, type ConfigFile } from './hasher-priv';
import { MIN_UID, rootProblem, type AltHost } from './host';

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** daemon.conf's min_uid (hasher-priv/server_config.c 66-67), else its default. */
function minUid(host: AltHost): number {
  const m = /^\s*min_uid\s*=\s*(-?\d+)\s*$/im.exec(read(path.join(host.hasherPrivDir, 'daemon.conf')) ?? '');
  return m ? Number(m[1]) : MIN_UID;
}

/** The files hasher-priv reads for the user (subconfig 0), in its order (caller_config.c 431-447). */
function mainFiles(host: AltHost): ConfigFile[] {
  const userD = path.join(host.hasherPrivDir, 'user.d');
  const byUid = path.join(userD, String(host.uid));
  const user = read(byUid) !== undefined ? byUid : path.join(userD, host.user);
  return [path.join(host.hasherPrivDir, 'system'), user].map((p) => ({ path: p, text: read(p) }));
}

function hasherPrivProblems(host: AltHost, kvm: boolean): string[] {
  const min = minUid(host);
  if (min >= 0 && (host.uid < min || host.uid === 0)) return [rootProblem(host)];
  const files = mainFiles(host);
  const out: string[] = [];
  if (files[0]!.text === undefined) out.push(`${files[0]!.path} does not exist: install hasher-priv ("apt-get install hasher-priv")`);
  if (files[1]!.text === undefined) out.push(`${files[1]!.path} does not exist: run "hasher-useradd ${host.user}" as root (it also adds ${host.user} to group hashman)`);
  const names = fs.existsSync(path.join(host.hasherPrivDir, 'user.d')) ? fs.readdirSync(path.join(host.hasherPrivDir, 'user.d')) : [];
  const numbers = host.numbers.length ? host.numbers : subconfigNumbers(host.user, host.uid, names);
  if (numbers.length === 0) out.push(`${host.user} has no hasher-priv subconfigs (user.d/${host.user}:N), one per concurrent step: run "hasher-useradd --number=1 ${host.user}" (and 2, 3, ...) as root`);
  for (const n of host.numbers) {
    if (!names.includes(`${host.user}:${n}`) && !names.includes(`${host.uid}:${n}`)) out.push(`subconfig ${n} (SBORKA_ALT_NUMBERS) is not set up: run "hasher-useradd --number=${n} ${host.user}" as root`);
  }
  // Every hasher workdir sborka makes, mkimage-profiles' BUILDDIR among them, lies under hasherDir.
  out.push(...privProblems(files, { mountpoints: ['/proc', '/dev/pts'], devices: kvm ? ['/dev/kvm'] : [], workdirs: [path.resolve(host.hasherDir)], home: host.home }));
  return out;
}

function profilesProblems(host: AltHost): string[] {
  const dir = host.profilesDir;
  if (!fs.existsSync(path.join(dir, 'Makefile')) || !fs.existsSync(path.join(dir, 'conf.d'))) {
    return [`${dir} is not a mkimage-profiles tree (no Makefile and conf.d/): install it ("apt-get install mkimage-profiles") or point SBORKA_ALT_PROFILES at a checkout`];
  }
  return [];
}

/** A local mirror (a path or file: URL) must have each branch's base for each arch it serves. */
function aptProblems(host: AltHost): string[] {
  const local = host.mirror.startsWith('file:') ? host.mirror.replace(/^file:(\/\/)?/, '') : host.mirror.startsWith('/') ? host.mirror : undefined;
  if (local === undefined) return [];
  const out: string[] = [];
  for (const branch of host.branches) {
    for (const arch of [...host.arches, ...host.emulate]) {
      let layout: string;
      try {
        layout = branchLayout(branch, arch).path;
      } catch (err) {
        out.push(`SBORKA_ALT_BRANCHES: ${(err as Error).message}`);
        continue;
      }
      const base = path.join(local, layout, repoArch(arch), 'base');
      if (!fs.existsSync(base)) out.push(`the mirror has no ${branch}/${arch} (${base} is missing): sync it ("rsync -a rsync://ftp.altlinux.org/ALTLinux/${layout}/${repoArch(arch)}/ ${path.join(local, layout, repoArch(arch))}/"), or drop ${branch} from SBORKA_ALT_BRANCHES`);
    }
  }
  return out;
}

/**
 * A host that builds partner variants runs their scripts and test commands under vm-run
 * (kinds/configure.ts, kinds/test.ts): it needs an arch vm-run boots, and hasher-priv must
 * let hsh-run --mountpoints=/proc,/dev/pts,/dev/kvm through. /dev/kvm is a device to
 * hasher-priv (mount.c 240-289: a /dev/ name in allowed_devices; in allowed_mountpoints it
 * would need an fstab line), so it is asked of allowed_devices even where KVM is off today:
 * otherwise the VM falls back to TCG on a host that has KVM, minutes per script.
 */
function partnerProblems(host: AltHost, kvm: boolean): string[] {
  const out = [...host.arches, ...host.emulate].filter((a) => !VM_RUN_ARCHES.includes(a)).map((a) =>
    `partner variants for ${a} cannot be isolated: vm-run has no VM for ${a} (it serves ${VM_RUN_ARCHES.join(', ')}); drop ${a} from this worker's arches or do not let it take partner builds`);
  // Their own RPMs go into the chroot with hsh-copy (partner-rpms.ts), not hsh-install.
  if (!onPath('hsh-copy')) out.push('partner RPMs: hsh-copy is not on PATH (hasher ships it; partner packages are copied into the chroot with it and installed by rpm inside vm-run): update hasher');
  if (kvm) return out; // hasherPrivProblems already asked for /dev/kvm
  const files = mainFiles(host);
  return [...out, ...privProblems(files, { mountpoints: ['/proc', '/dev/pts'], devices: ['/dev/kvm'] }).map((p) => `partner VMs: ${p}`)];
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).some((d) => {
    try {
      fs.accessSync(path.join(d, program), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Every problem of this host, each with its fix; empty when it can take alt steps. */
export function altHostProblems(host: AltHost, o: { kvm?: boolean; partners?: boolean } = {}): string[] {
  const kvm = o.kvm ?? (host.kvm === 'yes' || (host.kvm === 'auto' && fs.existsSync('/dev/kvm')));
  const out = [...hasherPrivProblems(host, kvm), ...(o.partners ? partnerProblems(host, kvm) : []), ...profilesProblems(host), ...aptProblems(host)];
  try {
    fs.mkdirSync(host.hasherDir, { recursive: true });
    fs.accessSync(host.hasherDir, fs.constants.W_OK);
  } catch (err) {
    out.push(`cannot use ${host.hasherDir} for hasher workdirs (${(err as Error).message}): create it writable for ${host.user}, or set SBORKA_ALT_HASHER_DIR`);
  }
  return out;
}
