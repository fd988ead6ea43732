// A fake ALT host for contract tests: the fake tools symlinked into a bin directory put
// first on PATH, their state (mirror index, hasher-priv config, switches) next to them,
// a profiles tree, and an AltHost pointing at all of it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AltHost } from '../../activities/alt/host';
import { compile } from '../../dsl/compile';
import type { BuildPlan } from '../../plan/plan';
import { planProduct } from '../../dsl/planner';
import { withRecipeDir } from '../../cli/load-plan';
import { fileHost } from '../../cli/recipe-files';
import { MKIMAGE_TARGETS } from '../../plan/mkimage-targets';

export const FAKES = path.join(__dirname, 'fakes');
export const TOOLS = ['hsh', 'hsh-install', 'hsh-run', 'hsh-rebuild', 'hsh-copy', 'vm-run', 'make', 'rpm'] as const;

/** name license requires arch: the fake mirror's packages (version 1.0-alt1; noarch 2.0-alt1). */
const MIRROR: Array<[string, string, string, string]> = [
  ['setup', 'GPL-2.0-or-later', '', 'noarch'],
  ['filesystem', 'GPLv2+', 'setup', ''],
  ['coreutils', 'GPLv3+', '', ''],
  ['bash', 'GPLv3+', '', ''],
  ['rpm', 'GPLv2+', 'coreutils,bash', ''],
  ['fakeroot', 'GPLv3+', '', ''],
  ['apt', 'GPLv2+', 'rpm', ''],
  ['sudo', 'ISC', '', ''],
  ['chrony', 'GPLv2', '', ''],
  ['htop', 'GPLv2+', '', ''],
  ['mc', 'GPLv3+', '', ''],
  ['vim-console', 'Vim', '', ''],
  ['openssh-server', 'BSD-3-Clause', '', ''],
  ['nftables', 'GPLv2', '', ''],
  ['cloud-init', 'GPLv3', '', ''],
  ['opennebula-context', 'Apache-2.0', '', ''],
  ['docker-engine', 'Apache-2.0', '', ''],
  ['systemd', 'LGPLv2.1+', '', ''],
  ['phosh', 'GPLv3+', '', ''],
  ['squeekboard', 'GPLv3+', '', ''],
  ['ModemManager', 'GPLv2+', '', ''],
  ['firefox-esr', 'MPL-2.0', '', ''],
  ['LibreOffice-still', 'MPL-2.0', '', ''],
  ['xfce4-default', 'GPLv2+', '', ''],
  ['acme-agent', 'LicenseRef-proprietary', '', ''],
  ['acme-branding', 'CC-BY-4.0', '', ''],
  ['rpm-build-vm-run', 'GPL-2.0-only', '', ''],
  ['kernel-image-std-def', 'GPL-2.0-only', '', ''],
  ['kernel-image-un-def', 'GPL-2.0-only', '', ''],
  ['kernel-image-pine', 'GPL-2.0-only', '', ''],
  ['kernel-image-acme-rt', 'GPL-2.0-only', '', ''],
  ['grub', 'GPLv3+', '', ''],
  ['shadow-utils', 'BSD-3-Clause', '', ''],
];

/** What the fake make installs for an upstream target before the recipe's packages. */
const TARGET_PACKAGES: Record<string, string> = {
  'distro/regular-xfce': 'xfce4-default grub kernel-image-std-def',
  'vm/regular-xfce': 'xfce4-default kernel-image-std-def',
  'distro/regular-jeos-systemd': 'systemd grub',
  'vm/regular-jeos-systemd': 'systemd',
  'vm/regular-systemd': 'systemd openssh-server',
  'distro/regular-server-systemd': 'systemd grub openssh-server',
  'vm/opennebula-systemd': 'systemd opennebula-context openssh-server',
  'vm/alt-mobile-phosh-pine': 'systemd phosh kernel-image-pine',
  've/base': 'filesystem',
  've/docker': 'docker-engine',
  've/systemd-base': 'systemd',
};

/** The build user the fake hasher-priv sees (the tests may run as root, which it refuses). */
export const BUILD_USER = { name: 'builder', uid: 1000, gid: 1000 };

/**
 * A profiles tree with upstream's target names (plan/mkimage-targets.ts) as conf.d rules,
 * those defined for some arches only inside conf.d's own kind of condition; what the
 * targets build is the fake make's business (TARGET_PACKAGES).
 */
export function writeProfilesTree(dir: string): void {
  fs.mkdirSync(path.join(dir, 'conf.d'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Makefile'), '# fake mkimage-profiles tree (test/alt/helpers.ts)\n');
  const byArches = new Map<string, string[]>();
  for (const [t, only] of Object.entries(MKIMAGE_TARGETS)) {
    const key = only ? only.join(' ') : '';
    byArches.set(key, [...(byArches.get(key) ?? []), t]);
  }
  const lines: string[] = ['# upstream target names (sborka catalogue)'];
  for (const [arches, targets] of [...byArches].sort()) {
    if (arches) lines.push(`ifeq (,$(filter-out ${arches.replace(/e2kv4 e2kv5 e2kv6/, 'e2k%')},$(ARCH)))`);
    lines.push(...targets.sort().map((t) => `${t}: ; @:`));
    if (arches) lines.push('endif');
  }
  fs.writeFileSync(path.join(dir, 'conf.d', 'upstream.mk'), `${lines.join('\n')}\n`);
  // The features sborka's fragment uses, as targets (their real bodies do not matter to the fake).
  for (const f of ['l10n', 'datetime', 'services', 'net']) {
    fs.mkdirSync(path.join(dir, 'features.in', f), { recursive: true });
    fs.writeFileSync(path.join(dir, 'features.in', f, 'config.mk'), `use/${f}:\n\t@$(call add_feature)\n`);
  }
}

export interface FakeHost {
  root: string;
  bin: string;
  state: string;
  host: AltHost;
  profiles: string;
  /** Recorded calls, oldest first: [program, ...argv]. */
  calls(): string[][];
  clearCalls(): void;
  privFile(rel: string, text: string): void;
  set(name: string, text?: string): void;
  unset(name: string): void;
}

export function fakeHost(options: { arches?: AltHost['arches']; emulate?: AltHost['emulate']; kvm?: AltHost['kvm']; numbers?: number[] } = {}): FakeHost {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-alt-'));
  const bin = path.join(root, 'bin');
  const state = path.join(bin, '.state');
  fs.mkdirSync(path.join(state, 'repo'), { recursive: true });
  for (const t of TOOLS) fs.symlinkSync(path.join(FAKES, t), path.join(bin, t));
  for (const arch of ['x86_64', 'aarch64', 'riscv64']) {
    const lines = MIRROR.filter(([, , , a]) => a !== 'noarch').map(([name, license, requires]) => [name, '(none)', '1.0', 'alt1', arch, license, `${name}-1.0-alt1.src.rpm`, requires].join('\t'));
    fs.writeFileSync(path.join(state, 'repo', `${arch}.tsv`), `${lines.join('\n')}\n`);
  }
  const noarch = MIRROR.filter(([, , , a]) => a === 'noarch').map(([name, license, requires]) => [name, '(none)', '2.0', 'alt1', 'noarch', license, `${name}-2.0-alt1.src.rpm`, requires].join('\t'));
  fs.writeFileSync(path.join(state, 'repo', 'noarch.tsv'), `${noarch.join('\n')}\n`);
  // What the upstream targets the products name install, in the fake make's world.
  for (const [target, pkgs] of Object.entries(TARGET_PACKAGES)) {
    fs.mkdirSync(path.join(state, 'profiles', path.dirname(target)), { recursive: true });
    fs.writeFileSync(path.join(state, 'profiles', target), `${pkgs}\n`);
  }
  const profiles = path.join(root, 'mkimage-profiles');
  writeProfilesTree(profiles);
  // The build user's world: passwd (the caller, and the two users of each subconfig),
  // its home (hasher-priv's "~" prefix) with the hasher workdirs in it.
  const u = BUILD_USER.name;
  const home = path.join(root, 'home', u);
  fs.mkdirSync(home, { recursive: true });
  const numbers = options.numbers ?? [1, 2, 3, 4];
  const passwd = [`root:0:0:/root`, `${u}:${BUILD_USER.uid}:${BUILD_USER.gid}:${home}`, `${u}_a:${BUILD_USER.uid + 1}:${BUILD_USER.gid + 1}:/dev/null`, `${u}_b:${BUILD_USER.uid + 2}:${BUILD_USER.gid + 2}:/dev/null`];
  for (const n of numbers) passwd.push(`${u}_a${n}:${BUILD_USER.uid + 10 * n + 1}:${BUILD_USER.gid + 10 * n + 1}:/dev/null`, `${u}_b${n}:${BUILD_USER.uid + 10 * n + 2}:${BUILD_USER.gid + 10 * n + 2}:/dev/null`);
  fs.writeFileSync(path.join(state, 'passwd'), `${passwd.join('\n')}\n`);
  fs.writeFileSync(path.join(state, 'caller'), u);
  // hasher's helper directory (hsh-sh-functions.in:342-370 checks it and its helpers).
  const helpers = path.join(state, 'libexec-hasher-priv');
  fs.mkdirSync(helpers, { recursive: true });
  for (const h of ['getconf', 'getugid1', 'getugid2', 'chrootuid1', 'chrootuid2']) fs.writeFileSync(path.join(helpers, `${h}.sh`), '#!/bin/sh\n', { mode: 0o755 });
  const priv = path.join(state, 'etc-hasher-priv');
  fs.mkdirSync(path.join(priv, 'user.d'), { recursive: true });
  // hasher-priv/system.conf's default prefix, and what hasher-useradd's admin adds.
  fs.writeFileSync(path.join(priv, 'system'), '# Systemwide configuration for the hasher-priv(8) helper program.\nprefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts\nallowed_devices=/dev/kvm\n');
  fs.writeFileSync(path.join(priv, 'user.d', u), `user1=${u}_a\nuser2=${u}_b\n`);
  for (const n of numbers) fs.writeFileSync(path.join(priv, 'user.d', `${u}:${n}`), `user1=${u}_a${n}\nuser2=${u}_b${n}\n`);
  fs.writeFileSync(path.join(state, 'kvm'), '');
  const host = AltHost.parse({
    mirror: 'http://mirror.test/ALTLinux',
    profilesDir: profiles,
    hasherDir: path.join(home, 'hasher'),
    hasherPrivDir: priv,
    user: u,
    uid: BUILD_USER.uid,
    home,
    numbers: [],
    arches: options.arches ?? ['x86_64'],
    emulate: options.emulate ?? [],
    kvm: options.kvm ?? 'yes',
    stateDir: path.join(root, 'alt-state'),
  });
  const callsDir = path.join(state, 'calls');
  return {
    root, bin, state, host, profiles,
    calls: () =>
      fs.existsSync(callsDir)
        ? fs.readdirSync(callsDir).sort((a, b) => (BigInt(a.split('-')[0]!) < BigInt(b.split('-')[0]!) ? -1 : 1))
            .map((f) => fs.readFileSync(path.join(callsDir, f), 'utf8').split('\0').slice(0, -1))
        : [],
    clearCalls: () => fs.rmSync(callsDir, { recursive: true, force: true }),
    privFile: (rel, text) => fs.writeFileSync(path.join(priv, rel), text),
    set: (name, text = '') => {
      fs.mkdirSync(path.dirname(path.join(state, name)), { recursive: true });
      fs.writeFileSync(path.join(state, name), text);
    },
    unset: (name) => fs.rmSync(path.join(state, name), { force: true }),
  };
}

/** Puts the fakes first on PATH (the process runner passes the worker's PATH on); returns the undo. */
export function useFakes(fake: FakeHost): () => void {
  const saved = process.env.PATH;
  process.env.PATH = `${fake.bin}:${saved ?? ''}`;
  return () => {
    process.env.PATH = saved;
  };
}

/**
 * A recipe compiled and planned the way `sborka build` does (dsl/compile.ts, then
 * planProduct, then the recipe's files made absolute by withRecipeDir).
 */
export function recipePlan(file: string, arches: string[] = []): BuildPlan {
  const projectRoot = path.resolve(__dirname, '..', '..');
  const c = compile([file], fileHost(projectRoot));
  if (c.errorCount > 0) throw new Error(`${file}: ${c.errorCount} errors`);
  const product = c.buildable.find((n) => c.decls.products.get(n)?.file === c.files[c.files.length - 1]?.path);
  if (!product) throw new Error(`${file} declares no buildable product`);
  const plan = planProduct(c, product, { arches });
  return withRecipeDir(plan, path.resolve(projectRoot, path.dirname(c.decls.products.get(product)!.file)));
}

/** A fresh fake ALT host and state directory for each test of a file: `alt.fake`, `alt.stateDir`. */
export function fakeHostEach(options: Parameters<typeof fakeHost>[0]): { readonly fake: FakeHost; readonly stateDir: string } {
  const alt = {} as { fake: FakeHost; stateDir: string; undo: () => void };
  beforeEach(() => {
    alt.fake = fakeHost(options);
    alt.undo = useFakes(alt.fake);
    alt.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-alt-state-'));
  });
  afterEach(() => {
    alt.undo();
    fs.rmSync(alt.fake.root, { recursive: true, force: true });
    fs.rmSync(alt.stateDir, { recursive: true, force: true });
  });
  return alt;
}
