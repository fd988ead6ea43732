// configure (debian): the prepared root unpacked, then settings, users, overlays, post-install
// scripts, services and the initramfs applied to it, and packed again deterministically
// (sorted, numeric owners, mtimes clamped to SOURCE_DATE_EPOCH). Files are edited from the
// host with the root's own paths; what must execute (scripts, locale-gen, update-initramfs)
// runs inside the root: bubblewrap here, qemu-user for another arch (a qemu VM where the host
// has no qemu-user), a qemu VM when the step's
// isolation is "vm" (a partner's recipe: its scripts never run on the host kernel; sandbox.ts).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Settings } from '../../plan/model';
import type { StepParams } from '../../plan/step-params';
import type { Config } from '../../config/config';
import { badInput } from '../failures';
import { digestTree } from '../host-digest';
import { defineKind, type KindContext } from '../kinds/registry';
import { appendLogLines } from '../step-log';
import type { StoreEntry } from '../store';
import { ROOTFS } from './prepare-root';
import { unchangedRoot, type RootFacts } from './configure-empty';
import { copyIntoRoot, existsInRoot, readInRoot, symlinkInRoot, writeInRoot } from './root-fs';
import { runOrThrow, runTool, tail } from './run-tool';
import { runRootBatch, type RootCommand } from './root-batch';
import { rootRecord } from './root-record';
import { foreignByQemuUser, runInRoot } from './sandbox';
import { hostDebArch } from './mmdebstrap';
import { checkOverlayTree, recipeInput } from '../recipe-inputs';
import { removeSshHostKeys } from './ssh-host-keys';

type ConfigureParams = StepParams<'configure'>;

const execFileAsync = promisify(execFile);

export const configureKind = defineKind('configure', async (ctx, params) => {
  const input = rootInput(ctx.step.id, ctx.inputs);
  const facts = rootFacts(ctx.step.id, input);
  // Nothing to configure: the prepared root as it is, in milliseconds (configure-empty.ts).
  const unchanged = await unchangedRoot(ctx, params, input, facts);
  if (unchanged) return unchanged;
  const root = path.join(ctx.workDir, 'root');
  await fs.mkdir(root);
  ctx.progress({ phase: 'unpacking the root' });
  await runOrThrow(ctx, ['tar', '--extract', `--file=${path.join(input.outputsDir, ROOTFS)}`, `--directory=${root}`,
    '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*'], { phase: 'unpacking the root' });
  const sde = String(facts.sourceDateEpoch);
  const isolation = params.isolation ?? 'host-sandbox';
  const foreign = facts.debArch === hostDebArch() ? undefined : (await foreignByQemuUser(ctx, facts.debArch)) ? 'qemu-user' : 'the VM';
  await appendLogLines(ctx.logPath, [`--- sborka: isolation ${isolation}: ${isolation === 'vm'
    ? "the recipe's scripts and the root's programs run inside a qemu VM (partner-supplied code)"
    : `the root's programs run in bubblewrap (user namespace, no capabilities) on the host kernel${foreign === undefined ? '' : foreign === 'qemu-user' ? '; this foreign arch through qemu-user, in bubblewrap inside a user namespace with its own binfmt_misc and dpkg\'s capabilities (qemu-user.ts)' : ', a VM for this foreign arch'}`}`]);
  const inRoot: InRoot = (argv, phase, env = {}) => runInRoot(ctx, root, facts.debArch, { argv, phase, env: { SOURCE_DATE_EPOCH: sde, ...env } }, isolation);
  // What must execute inside the root after the host's edits: run at once (see root-batch.ts).
  const batch: RootCommand[] = [];

  // Keeps services from starting while packages and scripts install or configure them (Debian's policy-rc.d).
  const policyRcd = !(await existsInRoot(root, '/usr/sbin/policy-rc.d'));
  if (policyRcd) await writeInRoot(root, '/usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', 0o755);

  if (facts.unpacked) await installUnpacked(ctx, root, inRoot, isolation === 'vm' || foreign !== 'qemu-user' ? 'inside the VM' : 'through qemu-user');
  // Before the recipe's overlays and scripts: keys a recipe ships on purpose are its own business.
  await removeSshHostKeys(ctx, root);

  ctx.progress({ phase: 'settings' });
  await applySettings(ctx, root, params.settings, batch, sde);

  for (const [i, o] of params.overlays.entries()) {
    ctx.progress({ phase: `overlay ${o.src}` });
    const src = await recipeInput(ctx.step.id, `overlays[${i}].src`, o.src, params.recipeDir, ctx.config);
    await checkOverlayTree(ctx.step.id, `overlays[${i}].src`, src);
    try {
      await copyIntoRoot(root, src, o.dest);
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": overlay ${o.src} -> ${o.dest}: ${(err as Error).message}`);
    }
  }

  for (const [i, s] of params.scripts.entries()) {
    const name = s.file ?? `inline script #${i + 1}`;
    ctx.progress({ phase: `script ${name}` });
    if (!(await existsInRoot(root, s.interpreter))) throw badInput(`step "${ctx.step.id}": post-install script ${name}: its interpreter ${s.interpreter} is not in the root`);
    const text = s.file !== undefined ? await fs.readFile(await recipeInput(ctx.step.id, `scripts[${i}].file`, s.file, params.recipeDir, ctx.config)) : Buffer.from(s.inline ?? '');
    const inside = `/.sborka/script-${i + 1}`;
    await writeInRoot(root, inside, text, 0o755);
    batch.push({
      argv: [s.interpreter, inside], phase: `script ${name}`,
      // Retrying runs the same script on the same root: it fails the same way.
      failure: (lines, code) => badInput(`step "${ctx.step.id}": post-install script ${name} (${s.interpreter}) failed${code === undefined ? '' : ` with exit code ${code}`}\n${tail(lines, 40)}`),
    });
  }

  const boot = await kernelAndInitrd(ctx, root, facts.kernelVersion, batch);
  await runRootBatch(ctx, root, facts.debArch, batch, { SOURCE_DATE_EPOCH: sde }, isolation);
  await fs.rm(path.join(root, '.sborka'), { recursive: true, force: true });
  if (boot) await checkInitrd(ctx, root, boot.initrd);

  // After the scripts, which may add the units these name.
  if (params.settings.enableServices.length || params.settings.disableServices.length) {
    ctx.progress({ phase: 'services' });
    for (const [verb, units] of [['enable', params.settings.enableServices], ['disable', params.settings.disableServices]] as const) {
      if (units.length === 0) continue;
      const r = await runTool(ctx, ['systemctl', `--root=${root}`, verb, ...units], { phase: 'services' });
      if (!r.ok) throw badInput(`step "${ctx.step.id}": systemctl ${verb} ${units.join(' ')}:\n${tail(r.lines, 10)}`);
    }
  }

  if (policyRcd) await fs.rm(path.join(root, 'usr/sbin/policy-rc.d'), { force: true });
  if (facts.unpacked) await cleanLikeMmdebstrap(root);

  ctx.progress({ phase: 'packing the root' });
  await runOrThrow(ctx, [
    'tar', '--create', `--file=${path.join(ctx.outputsDir, ROOTFS)}`, `--directory=${root}`,
    '--sort=name', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--format=pax',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    `--mtime=@${sde}`, '--clamp-mtime', '--one-file-system', '.',
  ], { phase: 'packing the root' });
  return {
    values: {
      arch: facts.arch, debArch: facts.debArch, suite: facts.suite, sourceDateEpoch: facts.sourceDateEpoch,
      ...(boot ? { kernel: boot.kernel, initrd: boot.initrd, kernelVersion: boot.release } : {}),
      isolation,
      record: rootRecord(ctx, await configureHostInputs(params, ctx.config)),
    },
  };
}, configureHostInputs);

/** The overlays' and script files' content joins the key: an edited overlay is rebuilt, not served from the store. */
export async function configureHostInputs(params: ConfigureParams, config: Config): Promise<string | undefined> {
  const sources = [
    ...params.overlays.map((o, i) => [`overlays[${i}].src`, o.src] as const),
    ...params.scripts.flatMap((s, i) => (s.file !== undefined ? [[`scripts[${i}].file`, s.file] as const] : [])),
  ];
  if (sources.length === 0) return undefined;
  const hash = createHash('sha256');
  for (const [field, rel] of sources) {
    const s = await recipeInput('configure', field, rel, params.recipeDir, config);
    hash.update(`${rel}\0${await digestTree(path.dirname(s), [path.basename(s)])}\0`);
  }
  return hash.digest('hex');
}

function rootInput(stepId: string, inputs: Record<string, StoreEntry>): StoreEntry {
  const roots = Object.values(inputs).filter((e) => e.manifest.outputs.files.some((f) => f.path === ROOTFS));
  if (roots.length !== 1) throw badInput(`step "${stepId}": needs exactly one input with ${ROOTFS} (a prepare-root step), found ${roots.length}`);
  return roots[0]!;
}

function rootFacts(stepId: string, input: StoreEntry): RootFacts {
  const v = input.manifest.outputs.values;
  const { arch, debArch, suite, sourceDateEpoch } = v;
  if (typeof arch !== 'string' || typeof debArch !== 'string' || typeof suite !== 'string' || typeof sourceDateEpoch !== 'number') {
    throw badInput(`step "${stepId}": its root input carries no arch/debArch/suite/sourceDateEpoch values (not a debian prepare-root?)`);
  }
  return { arch, debArch, suite, sourceDateEpoch, unpacked: v.unpacked === true, ...(typeof v.kernelVersion === 'string' ? { kernelVersion: v.kernelVersion } : {}) };
}

type InRoot = (argv: readonly string[], phase: string, env?: Record<string, string>) => ReturnType<typeof runInRoot>;

/**
 * A root that prepare-root only unpacked (a foreign arch): dpkg installs its debs where its
 * programs run (qemu-user, or a VM for a partner's), the way mmdebstrap does: the Essential:yes packages first, all
 * dependencies forced (their files are already in place), then every other package. The
 * kernel's postinst skips the initramfs (INITRD=No): kernelAndInitrd makes it once, later.
 */
async function installUnpacked(ctx: KindContext, root: string, inRoot: InRoot, where: string): Promise<void> {
  const archives = '/var/cache/apt/archives';
  const debs = (await fs.readdir(path.join(root, archives)).catch(() => [] as string[])).filter((n) => n.endsWith('.deb')).sort();
  if (debs.length === 0) throw badInput(`step "${ctx.step.id}": the unpacked root holds no packages in ${archives} to install`);
  const essential: string[] = [];
  const rest: string[] = [];
  for (const deb of debs) {
    // dpkg-deb of the host reads any arch's control data: nothing of the root runs here.
    const { stdout } = await execFileAsync('dpkg-deb', ['--field', path.join(root, archives, deb), 'Essential']);
    (stdout.trim() === 'yes' ? essential : rest).push(deb);
  }
  ctx.progress({ phase: 'installing the packages' });
  await appendLogLines(ctx.logPath, [`--- sborka: installing ${debs.length} packages (${essential.length} essential first) ${where}`]);
  const script = [
    'set -ef',
    `cd ${archives}`,
    // $1 is how many of the names after it are essential; deb file names hold no blanks.
    'n=$1; shift; e=; i=0',
    'while [ $i -lt $n ]; do e="$e $1"; shift; i=$((i + 1)); done',
    // unsafe-io: no fsync per file; a VM that dies mid-way is thrown away with its root anyway.
    'dpkg --install --force-depends --force-unsafe-io $e',
    '[ $# -eq 0 ] || dpkg --install --force-depends --force-unsafe-io "$@"',
    'dpkg --configure --pending',
    'dpkg --audit',
  ].join('\n');
  const r = await inRoot(['/bin/sh', '-c', script, 'sborka-install', String(essential.length), ...essential, ...rest], 'installing the packages', { INITRD: 'No', DPKG_COLORS: 'never' });
  if (!r.ok) {
    // The same debs in the same root fail the same way: a broken maintainer script, a conflict.
    throw badInput(`step "${ctx.step.id}": installing the unpacked packages ${where} failed: ${firstLine(r.failure)}\n${tail(r.lines, 40)}`);
  }
  // Installed: the archives go, as mmdebstrap's apt cleanup does for a native root.
  for (const deb of debs) await fs.rm(path.join(root, archives, deb), { force: true });
}

/** What mmdebstrap removes or empties after installing, so that the root's bytes follow its inputs only. */
async function cleanLikeMmdebstrap(root: string): Promise<void> {
  for (const f of ['/var/log/dpkg.log', '/var/log/apt/history.log', '/var/log/apt/term.log', '/var/log/alternatives.log',
    '/var/cache/ldconfig/aux-cache', '/var/log/apt/eipp.log.xz', '/var/lib/dbus/machine-id']) {
    await fs.rm(path.join(root, f), { force: true });
  }
  if (await existsInRoot(root, '/etc/machine-id')) {
    await fs.rm(path.join(root, 'etc/machine-id'), { force: true });
    await writeInRoot(root, '/etc/machine-id', '');
  }
  for (const dir of ['run', 'tmp']) {
    const names = await fs.readdir(path.join(root, dir)).catch(() => [] as string[]);
    for (const n of names) if (!(dir === 'run' && n === 'lock')) await fs.rm(path.join(root, dir, n), { recursive: true, force: true });
  }
}

async function applySettings(ctx: KindContext, root: string, s: Settings, batch: RootCommand[], sde: string): Promise<void> {
  const stepId = ctx.step.id;
  if (s.hostname !== undefined) {
    if (!/^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(s.hostname)) {
      throw badInput(`step "${stepId}": hostname ${JSON.stringify(s.hostname)} is not a valid host name`);
    }
    await writeInRoot(root, '/etc/hostname', `${s.hostname}\n`);
    const hosts = (await readInRoot(root, '/etc/hosts')) ?? '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n';
    const lines = hosts.split('\n').filter((l) => !/^127\.0\.1\.1\s/.test(l));
    const at = lines.findIndex((l) => /^127\.0\.0\.1\s/.test(l));
    lines.splice(at + 1, 0, `127.0.1.1\t${s.hostname}`);
    await writeInRoot(root, '/etc/hosts', lines.join('\n').replace(/\n*$/, '\n'));
  }
  if (s.timezone !== undefined) {
    if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(s.timezone)) throw badInput(`step "${stepId}": timezone ${JSON.stringify(s.timezone)} is not a zoneinfo name`);
    if (!(await existsInRoot(root, `/usr/share/zoneinfo/${s.timezone}`))) {
      throw badInput(`step "${stepId}": timezone ${s.timezone}: /usr/share/zoneinfo/${s.timezone} is not in the root (unknown zone, or tzdata not installed)`);
    }
    await symlinkInRoot(root, '/etc/localtime', `/usr/share/zoneinfo/${s.timezone}`);
    await writeInRoot(root, '/etc/timezone', `${s.timezone}\n`);
  }
  if (s.locale !== undefined) await applyLocale(stepId, root, s.locale, batch);
  if (s.keyboard !== undefined) {
    if (!/^[A-Za-z0-9_,()-]+$/.test(s.keyboard)) throw badInput(`step "${stepId}": keyboard ${JSON.stringify(s.keyboard)} is not an XKB layout list`);
    await writeInRoot(root, '/etc/default/keyboard', `XKBMODEL="pc105"\nXKBLAYOUT="${s.keyboard}"\nXKBVARIANT=""\nXKBOPTIONS=""\n\nBACKSPACE="guess"\n`);
  }
  // useradd/usermod of the host work on the root's files (--root): no program of the root runs.
  const env = { SOURCE_DATE_EPOCH: sde }; // shadow dates the password change with it
  for (const u of s.users) {
    const hash = u.passwordHash;
    if (hash !== undefined && /[:\n]/.test(hash)) throw badInput(`step "${stepId}": user ${u.name}: the password hash holds ":" or a newline`);
    const shell = u.shell ?? ((await existsInRoot(root, '/bin/bash')) ? '/bin/bash' : '/bin/sh');
    const argv = ['useradd', `--root=${root}`, '--create-home', `--shell=${shell}`,
      ...(u.groups.length ? [`--groups=${u.groups.join(',')}`] : []),
      ...(u.uid !== undefined ? [`--uid=${u.uid}`] : []),
      ...(hash !== undefined ? [`--password=${hash}`] : []),
      '--', u.name];
    const r = await runTool(ctx, argv, { phase: `user ${u.name}`, env });
    if (!r.ok) throw badInput(`step "${stepId}": user ${u.name}: useradd failed:\n${tail(r.lines, 10)}`);
  }
  if (s.rootPasswordHash !== undefined) {
    if (/[:\n]/.test(s.rootPasswordHash)) throw badInput(`step "${stepId}": the root password hash holds ":" or a newline`);
    const r = await runTool(ctx, ['usermod', `--root=${root}`, `--password=${s.rootPasswordHash}`, '--', 'root'], { phase: 'root password', env });
    if (!r.ok) throw badInput(`step "${stepId}": root password: usermod failed:\n${tail(r.lines, 10)}`);
  }
}

async function applyLocale(stepId: string, root: string, locale: string, batch: RootCommand[]): Promise<void> {
  if (!/^[A-Za-z0-9_.@-]+$/.test(locale)) throw badInput(`step "${stepId}": locale ${JSON.stringify(locale)} is not a locale name`);
  if (!['C', 'POSIX', 'C.UTF-8', 'C.utf8'].includes(locale)) {
    const supported = (await readInRoot(root, '/usr/share/i18n/SUPPORTED')) ?? '';
    const line = supported.split('\n').find((l) => l.split(' ')[0] === locale);
    if (!(await existsInRoot(root, '/usr/sbin/locale-gen')) || !line) {
      throw badInput(`step "${stepId}": locale ${locale} needs the locales package in the root${line === undefined && supported ? ' and a locale it supports' : ''}`);
    }
    const gen = (await readInRoot(root, '/etc/locale.gen')) ?? '';
    if (!gen.split('\n').includes(line)) await writeInRoot(root, '/etc/locale.gen', `${gen.replace(/\n*$/, '\n')}${line}\n`);
    batch.push({ argv: ['/usr/sbin/locale-gen'], phase: 'locale-gen', failure: (lines) => badInput(`step "${stepId}": locale-gen ${locale} failed:\n${tail(lines, 10)}`) });
  }
  await writeInRoot(root, '/etc/default/locale', `LANG=${locale}\n`);
}

/**
 * The root's kernel; queues a fresh initramfs for it (overlays, settings and scripts may
 * change what goes in, so it runs last in the batch).
 */
async function kernelAndInitrd(ctx: KindContext, root: string, locked: string | undefined, batch: RootCommand[]): Promise<{ kernel: string; initrd: string; release: string } | undefined> {
  let names: string[];
  try {
    names = await fs.readdir(path.join(root, 'boot'));
  } catch {
    return undefined;
  }
  // vmlinuz-<release> on most arches; riscv64's Debian kernel is an uncompressed vmlinux-<release>.
  const images = new Map(names.filter((n) => /^vmlinu[xz]-/.test(n)).map((n) => [n.slice('vmlinuz-'.length), n] as const));
  const releases = [...images.keys()].sort();
  if (releases.length === 0) return undefined;
  const release = locked !== undefined && releases.includes(locked) ? locked : releases[releases.length - 1]!;
  if (!(await existsInRoot(root, '/usr/sbin/update-initramfs'))) {
    throw badInput(`step "${ctx.step.id}": the root has kernel ${release} but no update-initramfs (initramfs-tools)`);
  }
  const initrd = `boot/initrd.img-${release}`;
  const mode = names.includes(`initrd.img-${release}`) ? '-u' : '-c';
  batch.push({
    argv: ['update-initramfs', mode, '-k', release], phase: 'update-initramfs',
    failure: (lines) => badInput(`step "${ctx.step.id}": update-initramfs for ${release} failed:\n${tail(lines, 20)}`),
  });
  return { kernel: `boot/${images.get(release)!}`, initrd, release };
}

async function checkInitrd(ctx: KindContext, root: string, initrd: string): Promise<void> {
  await fs.rm(path.join(root, `${initrd}.bak`), { force: true });
  if (!(await existsInRoot(root, `/${initrd}`))) throw badInput(`step "${ctx.step.id}": update-initramfs made no /${initrd}`);
}

function firstLine(err: unknown): string {
  return ((err as Error | undefined)?.message ?? 'failed').split('\n')[0] ?? 'failed';
}
