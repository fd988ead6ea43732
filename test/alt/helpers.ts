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

export const FAKES = path.join(__dirname, 'fakes');
export const TOOLS = ['hsh', 'hsh-install', 'hsh-run', 'hsh-rebuild', 'vm-run', 'make', 'rpm'] as const;

/** name epoch version release arch license sourcerpm requires */
const MIRROR: Array<[string, string, string, string]> = [
  ['setup', 'GPL-2.0-or-later', '', 'noarch'],
  ['filesystem', 'GPLv2+', 'setup', ''],
  ['rpm', 'GPLv2+', '', ''],
  ['fakeroot', 'GPLv3+', '', ''],
  ['apt', 'GPLv2+', 'rpm', ''],
  ['sudo', 'ISC', '', ''],
  ['chrony', 'GPLv2', '', ''],
  ['htop', 'GPLv2+', '', ''],
  ['mc', 'GPLv3+', '', ''],
  ['vim-console', 'Vim', '', ''],
  ['firefox-esr', 'MPL-2.0', '', ''],
  ['LibreOffice-still', 'MPL-2.0', '', ''],
  ['xfce4-default', 'GPLv2+', '', ''],
  ['acme-agent', 'LicenseRef-proprietary', '', ''],
  ['acme-branding', 'CC-BY-4.0', '', ''],
  ['rpm-build-vm-run', 'GPL-2.0-only', '', ''],
  ['kernel-image-std-def', 'GPL-2.0-only', '', ''],
  ['kernel-image-un-def', 'GPL-2.0-only', '', ''],
  ['kernel-image-acme-rt', 'GPL-2.0-only', '', ''],
  ['grub', 'GPLv3+', '', ''],
  ['shadow-utils', 'BSD-3-Clause', '', ''],
];

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
  // The base packages of the profiles the recipes name.
  fs.mkdirSync(path.join(state, 'profiles', 'distro'), { recursive: true });
  fs.mkdirSync(path.join(state, 'profiles', 'vm'), { recursive: true });
  fs.writeFileSync(path.join(state, 'profiles', 'distro', 'regular-xfce'), 'xfce4-default grub kernel-image-std-def\n');
  fs.writeFileSync(path.join(state, 'profiles', 'vm', 'regular-xfce'), 'xfce4-default kernel-image-std-def\n');
  // A profiles tree with the targets of the recipes.
  const profiles = path.join(root, 'mkimage-profiles');
  fs.mkdirSync(path.join(profiles, 'conf.d'), { recursive: true });
  fs.writeFileSync(path.join(profiles, 'Makefile'), '# fake\n');
  fs.writeFileSync(path.join(profiles, 'conf.d', 'regular.mk'), 'distro/regular-xfce: distro/.regular-desktop mixin/regular-xfce; @:\n');
  fs.writeFileSync(path.join(profiles, 'conf.d', 'regular-vm.mk'), 'vm/regular-xfce: vm/.regular-gtk mixin/regular-xfce mixin/vm-archdep-x11; @:\n');
  // The features sborka's fragment uses, as targets (their real bodies do not matter to the fake).
  for (const f of ['l10n', 'datetime', 'services', 'net']) {
    fs.mkdirSync(path.join(profiles, 'features.in', f), { recursive: true });
    fs.writeFileSync(path.join(profiles, 'features.in', f, 'config.mk'), `use/${f}:\n\t@$(call add_feature)\n`);
  }
  const user = os.userInfo();
  const priv = path.join(state, 'etc-hasher-priv');
  fs.mkdirSync(path.join(priv, 'user.d'), { recursive: true });
  fs.writeFileSync(path.join(priv, 'system'), '# hasher-priv system config\nprefix=~:/tmp/.private\nallowed_mountpoints=/proc,/dev/pts\nallowed_devices=/dev/kvm\n');
  fs.writeFileSync(path.join(priv, 'user.d', user.username), `user1=${user.username}_a\nuser2=${user.username}_b\n`);
  const numbers = options.numbers ?? [1, 2, 3, 4];
  for (const n of numbers) fs.writeFileSync(path.join(priv, 'user.d', `${user.username}:${n}`), `user1=${user.username}_a${n}\nuser2=${user.username}_b${n}\n`);
  fs.writeFileSync(path.join(state, 'kvm'), '');
  const host = AltHost.parse({
    mirror: 'http://mirror.test/ALTLinux',
    profilesDir: profiles,
    hasherDir: path.join(root, 'hasher'),
    hasherPrivDir: priv,
    user: user.username,
    uid: user.uid,
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
