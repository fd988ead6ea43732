// The ALT build host: where hasher works, which hasher-priv subconfigs this worker may
// take, what the host allows (KVM, emulation), and the files a step's tools read
// (apt.conf, sources.list, ~/.hasher/config). Side effects live here; the text comes
// from apt-conf.ts and the checks from hasher-priv.ts.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { canBeEmulated } from '../../plan/arches';
import { Arch } from '../../plan/schemas';
import { processIsRunning } from '../process-runner';
import { aptConf, hasherConfig, sourcesList, type SourcesListInput } from './apt-conf';
import { privProblems, subconfigNumbers, type ConfigFile, type PrivNeeds } from './hasher-priv';

export const AltHost = z.object({
  mirror: z.string().min(1).default('http://ftp.altlinux.org/pub/distributions/ALTLinux'),
  /** A checkout of mkimage-profiles; each build works on its own copy. */
  profilesDir: z.string().min(1).default('/usr/share/mkimage-profiles'),
  /** Parent of every hasher workdir; must lie under hasher-priv's `prefix` (~:/tmp/.private). */
  hasherDir: z.string().min(1),
  hasherPrivDir: z.string().min(1).default('/etc/hasher-priv'),
  user: z.string().min(1),
  uid: z.number().int().min(0),
  /** The user's home from passwd: hasher-priv's "~" prefix (not the step's HOME). */
  home: z.string().min(1).optional(),
  /** Branches whose apt sources the start-up check looks at on a local mirror (SBORKA_ALT_BRANCHES). */
  branches: z.array(z.string().min(1)).default(['p11', 'sisyphus']),
  /** Subconfig numbers this worker may use; empty: the user.d/USER:N files found. */
  numbers: z.array(z.number().int().min(1)).default([]),
  /** Arches this host builds natively (e2k only when declared). */
  arches: z.array(Arch).min(1),
  /**
   * Arches it may build under qemu-user (`hsh --with-qemu`): it serves their
   * build-<arch>-emulated queues, which get the steps no native worker took in time.
   */
  emulate: z.array(Arch).default([]),
  /** Whether hasher roots get /dev/kvm: on, off, or on when the host has /dev/kvm. */
  kvm: z.enum(['auto', 'yes', 'no']).default('auto'),
  /** Where sborka keeps its slot locks. */
  stateDir: z.string().min(1),
});
export type AltHost = z.infer<typeof AltHost>;

export function hostArch(): Arch {
  const map: Record<string, Arch> = { x64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64', ia32: 'i586', ppc64: 'ppc64le', loong64: 'loongarch64' };
  return map[os.arch()] ?? 'x86_64';
}

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Numbers as "1,2,5" or ranges "1-8". */
function numbers(v: string | undefined): number[] {
  return list(v).flatMap((item) => {
    const m = /^(\d+)-(\d+)$/.exec(item);
    if (!m) return [Number(item)];
    const out: number[] = [];
    for (let n = Number(m[1]); n <= Number(m[2]); n++) out.push(n);
    return out;
  });
}

export function loadAltHost(env: NodeJS.ProcessEnv = process.env): AltHost {
  const user = os.userInfo();
  return AltHost.parse({
    mirror: env.SBORKA_ALT_MIRROR || undefined,
    profilesDir: env.SBORKA_ALT_PROFILES || undefined,
    hasherDir: env.SBORKA_ALT_HASHER_DIR || path.join('/tmp/.private', user.username, 'sborka'),
    hasherPrivDir: env.SBORKA_ALT_HASHER_PRIV_DIR || undefined,
    user: user.username,
    uid: user.uid,
    home: user.homedir,
    branches: list(env.SBORKA_ALT_BRANCHES).length ? list(env.SBORKA_ALT_BRANCHES) : undefined,
    numbers: numbers(env.SBORKA_ALT_NUMBERS),
    arches: list(env.SBORKA_ALT_ARCHES).length ? list(env.SBORKA_ALT_ARCHES) : [hostArch()],
    emulate: list(env.SBORKA_ALT_EMULATE),
    kvm: env.SBORKA_ALT_KVM || undefined,
    stateDir: env.SBORKA_ALT_STATE_DIR || path.join(env.SBORKA_STATE_DIR || path.join(os.tmpdir(), 'sborka'), 'alt'),
  });
}

/** How a step's arch is served here: natively, under qemu-user, or not at all (the message says why). */
export function archMode(host: AltHost, arch: Arch): { mode: 'native' } | { mode: 'emulated'; qemu: string } | { mode: 'refused'; why: string } {
  if (host.arches.includes(arch)) return { mode: 'native' };
  if (!canBeEmulated(arch)) return { mode: 'refused', why: `${arch} builds only on e2k hosts that declare it (SBORKA_ALT_ARCHES); it cannot be emulated` };
  if (host.emulate.includes(arch)) return { mode: 'emulated', qemu: arch === 'armh' ? 'arm' : arch };
  return { mode: 'refused', why: `this worker builds ${host.arches.join(', ')} natively and emulates ${host.emulate.join(', ') || 'nothing'}; ${arch} needs a native worker or SBORKA_ALT_EMULATE=${arch}` };
}

// ---- hasher-priv --------------------------------------------------------------------

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The files hasher-priv reads for this user and subconfig, in its order. */
export async function privFiles(host: AltHost, number: number): Promise<ConfigFile[]> {
  const userD = path.join(host.hasherPrivDir, 'user.d');
  const byUid = path.join(userD, String(host.uid));
  const userFile = (await readOrUndefined(byUid)) !== undefined ? byUid : path.join(userD, host.user);
  const files = [path.join(host.hasherPrivDir, 'system'), userFile];
  if (number > 0) {
    const byUidN = path.join(userD, `${host.uid}:${number}`);
    files.push((await readOrUndefined(byUidN)) !== undefined ? byUidN : path.join(userD, `${host.user}:${number}`));
  }
  return Promise.all(files.map(async (p) => ({ path: p, text: await readOrUndefined(p) })));
}

/** Problems that would make hasher-priv refuse the step, each with the fix. */
export async function checkPriv(host: AltHost, number: number, needs: PrivNeeds): Promise<string[]> {
  if (host.uid < MIN_UID) return [rootProblem(host)];
  const files = await privFiles(host, number);
  const problems: string[] = [];
  if (files[1]?.text === undefined) {
    problems.push(`${files[1]?.path} does not exist: run "hasher-useradd ${host.user}" as root (it also adds ${host.user} to group hashman)`);
  }
  if (number > 0 && files[2]?.text === undefined) {
    problems.push(`${files[2]?.path} does not exist: subconfig ${number} is not set up; run "hasher-useradd --number=${number} ${host.user}" as root`);
  }
  return [...problems, ...privProblems(files, { home: host.home, ...needs })];
}

/** hasher-priv/server_config.c 25: MIN_CHANGE_UID, the daemon's default min_uid. */
export const MIN_UID = 34;

/**
 * hasher-privd serves no caller below its min_uid (34 unless daemon.conf says otherwise)
 * and not root itself (hasher-privd.c 127-131, server_config.c 25-32): hasher never runs
 * as root.
 */
export function rootProblem(host: Pick<AltHost, 'uid' | 'user'>): string {
  return `this worker runs as ${host.user} (uid ${host.uid}), and hasher-priv refuses such a caller ("invalid uid: ${host.uid}"), so no hasher step can run: ` +
    'create a build user and start the worker as it: as root, "useradd -m builder && hasher-useradd builder", then "su - builder -c \'sborka worker --toolchain alt\'"';
}

export async function availableNumbers(host: AltHost): Promise<number[]> {
  if (host.numbers.length) return host.numbers;
  let names: string[] = [];
  try {
    names = await fs.readdir(path.join(host.hasherPrivDir, 'user.d'));
  } catch {
    // No user.d: only the main config, which one step at a time may use.
  }
  return subconfigNumbers(host.user, host.uid, names);
}

// ---- slots: one hasher-priv subconfig and one workdir per running step -----------

export interface Slot {
  number: number;
  workdir: string;
  release(): Promise<void>;
}

/**
 * Takes a free subconfig number (a lock file created with O_EXCL; a dead holder's file is
 * taken over) and a fresh workdir, so concurrent steps never share either.
 */
export async function acquireSlot(host: AltHost, owner: string, signal: AbortSignal, onWait: (msg: string) => void): Promise<Slot> {
  const nums = await availableNumbers(host);
  if (nums.length === 0) {
    throw new Error(`no hasher-priv subconfigs for ${host.user}: create them with "hasher-useradd --number=N ${host.user}" or set SBORKA_ALT_NUMBERS`);
  }
  const dir = path.join(host.stateDir, 'slots');
  await fs.mkdir(dir, { recursive: true });
  for (let round = 0; ; round++) {
    for (const n of nums) {
      const lock = path.join(dir, `${n}.lock`);
      if (await tryLock(lock, owner)) {
        const workdir = path.join(host.hasherDir, `${n}-${process.pid}-${Date.now().toString(36)}`);
        await fs.mkdir(workdir, { recursive: true });
        return {
          number: n,
          workdir,
          release: async () => {
            await fs.rm(workdir, { recursive: true, force: true });
            await fs.rm(lock, { force: true });
          },
        };
      }
    }
    if (signal.aborted) throw signal.reason;
    if (round === 0) onWait(`all hasher subconfigs (${nums.join(', ')}) are busy; waiting`);
    await new Promise((r) => setTimeout(r, Math.min(5000, 200 * (round + 1))));
  }
}

async function tryLock(lock: string, owner: string): Promise<boolean> {
  try {
    await fs.writeFile(lock, `${process.pid} ${owner}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const pid = Number((await readOrUndefined(lock))?.split(' ')[0]);
  if (pid > 0 && pid !== process.pid && !processIsRunning(pid)) {
    // The worker that held it died: its lock goes, and the next round takes the number.
    await fs.rm(lock, { force: true });
  }
  return false;
}

// ---- the files a step's tools read ----------------------------------------------

export interface StepFiles {
  aptConf: string;
  sourcesList: string;
  hasherConfig: string;
}

/**
 * Writes apt.conf and sources.list under <home>/apt and <home>/.hasher/config, where
 * <home> is the step's HOME (its work directory): hasher and mkimage read them there.
 */
export async function writeStepFiles(home: string, o: SourcesListInput & { workdir: string; number: number; mountpoints: readonly string[] }): Promise<StepFiles> {
  const aptDir = path.join(home, 'apt');
  await fs.mkdir(aptDir, { recursive: true });
  await fs.mkdir(path.join(home, '.hasher'), { recursive: true });
  const files: StepFiles = {
    sourcesList: path.join(aptDir, `sources.list.${o.branch}.${o.arch}`),
    aptConf: path.join(aptDir, `apt.conf.${o.branch}.${o.arch}`),
    hasherConfig: path.join(home, '.hasher', 'config'),
  };
  await fs.writeFile(files.sourcesList, sourcesList(o));
  await fs.writeFile(files.aptConf, aptConf({ sourcesList: files.sourcesList }));
  await fs.writeFile(files.hasherConfig, hasherConfig({ workdir: o.workdir, aptConfig: files.aptConf, target: o.arch, number: o.number, mountpoints: o.mountpoints }));
  return files;
}

/** Whether hasher roots here get /dev/kvm. */
export async function kvmAvailable(host: AltHost): Promise<boolean> {
  if (host.kvm !== 'auto') return host.kvm === 'yes';
  try {
    await fs.access('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
