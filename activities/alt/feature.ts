// The recipe's users, root password, overlays and post-install scripts as an
// mkimage-profiles feature of our own (features.in/sborka): `use/sborka` joins the
// image's target, its rootfs/files/ tree is copied into the image by m-p's COPY_TREE,
// and its rootfs/image-scripts.d/ scripts run in the image's chroot (the rootfs
// subprofile lands in live@ for distro images and at the top for vm/ and ve/ ones).
// Hostname goes through m-p's own variable (use/net's TARGET_HOSTNAME). The text here is
// pure; writeFeature() puts the tree on disk.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Script, Settings } from '../../plan/model';

export const FEATURE_NAME = 'sborka';
export const FEATURE_TARGET = `use/${FEATURE_NAME}`;
/** The feature's tree in the configure step's outputs; build copies it to features.in/sborka. */
export const FEATURE_DIR = 'mkimage-feature';
export const USERS_SCRIPT = '60-sborka-users';
export const scriptName = (i: number) => `95-sborka-post-install-${String(i + 1).padStart(2, '0')}`;

/** A shell word in single quotes; recipe values (hashes, names) are never interpolated unquoted. */
export function shq(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

const USER_NAME = /^[a-z_][a-z0-9_-]*\$?$/;

/**
 * The image script creating the recipe's users (home, shell, uid, groups, password hash)
 * and setting root's password hash. A missing group fails the script, and so the build:
 * a user silently left out of wheel is worse than a failed build.
 */
export function usersScript(settings: Pick<Settings, 'users' | 'rootPasswordHash'>): string | undefined {
  if (settings.users.length === 0 && settings.rootPasswordHash === undefined) return undefined;
  const lines = ['#!/bin/sh -efu', '# written by sborka: the recipe\'s users and root password', ''];
  for (const u of settings.users) {
    if (!USER_NAME.test(u.name)) throw new Error(`user name "${u.name}" is not a valid login name`);
    for (const g of u.groups) if (!USER_NAME.test(g)) throw new Error(`group "${g}" of user ${u.name} is not a valid group name`);
    const add = ['useradd', '-m', ...(u.uid !== undefined ? ['-u', String(u.uid)] : []), ...(u.shell ? ['-s', shq(u.shell)] : []), shq(u.name)];
    lines.push(`id -u ${shq(u.name)} >/dev/null 2>&1 || ${add.join(' ')}`);
    if (u.groups.length) lines.push(`usermod -a -G ${shq(u.groups.join(','))} ${shq(u.name)}`);
    if (u.passwordHash !== undefined) lines.push(`usermod -p ${shq(u.passwordHash)} ${shq(u.name)}`);
  }
  if (settings.rootPasswordHash !== undefined) lines.push(`usermod -p ${shq(settings.rootPasswordHash)} root`);
  return `${lines.join('\n')}\n`;
}

/** A post-install script as an image script: run by its interpreter in the image's chroot. */
export function imageScript(interpreter: string, text: string): string {
  if (text.startsWith(`#!${interpreter}\n`) || text.startsWith(`#!${interpreter} `)) return text;
  // A script's own shebang (a comment to sh, bash, perl and python alike) stays as it was.
  return `#!${interpreter}\n${text}`;
}

export function featureConfig(): string {
  return ['# written by sborka: the recipe\'s users, root password, overlays and post-install scripts', `${FEATURE_TARGET}:`, '\t@$(call add_feature)', ''].join('\n');
}

export interface FeatureInput {
  settings: Pick<Settings, 'users' | 'rootPasswordHash'>;
  /** Host paths (already resolved) and their destinations in the image. */
  overlays: Array<{ src: string; dest: string }>;
  scripts: Array<Pick<Script, 'interpreter'> & { text: string; name: string }>;
}

/** Writes the feature tree under dir; returns what it holds, or undefined when the recipe needs none. */
export async function writeFeature(dir: string, input: FeatureInput): Promise<{ files: number; scripts: string[] } | undefined> {
  const users = usersScript(input.settings);
  if (!users && input.overlays.length === 0 && input.scripts.length === 0) return undefined;
  const rootfs = path.join(dir, 'rootfs');
  const scriptsDir = path.join(rootfs, 'image-scripts.d');
  await fs.mkdir(scriptsDir, { recursive: true });
  await fs.writeFile(path.join(dir, 'config.mk'), featureConfig());
  const scripts: string[] = [];
  if (users) {
    await fs.writeFile(path.join(scriptsDir, USERS_SCRIPT), users, { mode: 0o755 });
    scripts.push(USERS_SCRIPT);
  }
  for (const [i, s] of input.scripts.entries()) {
    await fs.writeFile(path.join(scriptsDir, scriptName(i)), imageScript(s.interpreter, s.text), { mode: 0o755 });
    scripts.push(scriptName(i));
  }
  let files = 0;
  const tree = path.join(rootfs, 'files');
  for (const o of input.overlays) {
    const dest = path.join(tree, path.posix.normalize(o.dest));
    if (dest !== tree && !dest.startsWith(`${tree}${path.sep}`)) throw new Error(`overlay destination ${o.dest} leads outside the image`);
    const st = await fs.stat(o.src);
    if (st.isDirectory()) await fs.mkdir(dest, { recursive: true });
    else await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.cp(o.src, dest, { recursive: true, force: true, verbatimSymlinks: true, preserveTimestamps: true });
    files += await countFiles(st.isDirectory() ? o.src : undefined);
  }
  return { files, scripts };
}

async function countFiles(dir: string | undefined): Promise<number> {
  if (!dir) return 1;
  let n = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) n += e.isDirectory() ? await countFiles(path.join(dir, e.name)) : 1;
  return n;
}

export const REMOVALS_SCRIPT = '96-sborka-vm-removals';
/** hasher's own directories in a chroot (.in, .out, .host) and the pseudo file systems: never part of the image. */
const NOT_IMAGE = new Set(['.in', '.out', '.host', 'proc', 'sys', 'dev', 'tmp']);
/** Where partner RPMs lie in a chroot to be installed (partner-rpms.ts): the builder's home, hsh-copy's default (hsh-copy:164, 186-204). */
export const PARTNER_RPMS_IN_ROOT = '/usr/src/sborka-partner-rpms';
/** rpm's %_dbpath. */
const RPM_DB = 'var/lib/rpm';

/** Each path of a root (relative) with what identifies its content: type, mode, size, mtime, link target. */
export async function rootSnapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && NOT_IMAGE.has(e.name)) continue;
      // The image's rpm database is mkimage-profiles' own: a copy of the VM root's would replace it.
      if (r === RPM_DB) continue;
      // The partner RPM files themselves, copied in to be installed (partner-rpms.ts).
      if (r === PARTNER_RPMS_IN_ROOT.slice(1)) continue;
      const st = await fs.lstat(path.join(root, r), { bigint: true }).catch(() => undefined);
      if (!st) continue;
      const link = st.isSymbolicLink() ? await fs.readlink(path.join(root, r)).catch(() => '') : '';
      out.set(r, `${st.mode}:${st.isDirectory() ? 0 : st.size}:${st.isDirectory() ? 0 : st.mtimeNs}:${link}`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/**
 * What changed between two snapshots of a root, into the feature: made or changed files,
 * directories and symlinks under rootfs/files/ (COPY_TREE puts them in the image), removed
 * paths as an image script that removes them. Anything else (devices, fifos) is refused.
 */
export async function writeRootChanges(dir: string, root: string, before: Map<string, string>, after: Map<string, string>): Promise<{ changed: number; removed: number; scripts: string[] }> {
  const tree = path.join(dir, 'rootfs', 'files');
  let changed = 0;
  for (const [rel, sig] of [...after].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (before.get(rel) === sig) continue;
    const src = path.join(root, rel);
    const dest = path.join(tree, rel);
    const st = await fs.lstat(src);
    await noLinkOnTheWay(tree, rel);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    if (st.isDirectory()) await fs.mkdir(dest, { recursive: true, mode: st.mode & 0o7777 });
    else if (st.isSymbolicLink()) await fs.rm(dest, { force: true }).then(async () => fs.symlink(await fs.readlink(src), dest));
    else if (st.isFile()) await fs.copyFile(src, dest);
    else throw new Error(`/${rel} made in the VM is neither a file, a directory nor a symlink`);
    if (!st.isSymbolicLink()) await fs.chmod(dest, st.mode & 0o7777);
    changed++;
  }
  // A removed directory's contents are removed with it: name only the topmost.
  const gone = [...before.keys()].filter((r) => !after.has(r)).sort();
  const top = gone.filter((r) => !gone.some((g) => r.startsWith(`${g}/`)));
  const scripts: string[] = [];
  if (top.length) {
    const scriptsDir = path.join(dir, 'rootfs', 'image-scripts.d');
    await fs.mkdir(scriptsDir, { recursive: true });
    if (!(await fs.stat(path.join(dir, 'config.mk')).catch(() => undefined))) await fs.writeFile(path.join(dir, 'config.mk'), featureConfig());
    const text = ['#!/bin/sh -efu', '# written by sborka: what the partner\'s post-install scripts removed in their VM', '', ...top.map((r) => `rm -rf -- ${shq(`/${r}`)}`), ''].join('\n');
    await fs.writeFile(path.join(scriptsDir, REMOVALS_SCRIPT), text, { mode: 0o755 });
    scripts.push(REMOVALS_SCRIPT);
  }
  if (changed && !(await fs.stat(path.join(dir, 'config.mk')).catch(() => undefined))) await fs.writeFile(path.join(dir, 'config.mk'), featureConfig());
  return { changed, removed: top.length, scripts };
}

/** No directory on the way to tree/rel is a symlink (an overlay's own may point anywhere on the host). */
async function noLinkOnTheWay(tree: string, rel: string): Promise<void> {
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const st = await fs.lstat(path.join(tree, ...parts.slice(0, i))).catch(() => undefined);
    if (!st) return;
    if (st.isSymbolicLink()) {
      if (i === parts.length) return; // the path itself: replaced, never followed
      throw new Error(`/${rel} changed in the VM lies under /${parts.slice(0, i).join('/')}, a symlink in the recipe's overlay`);
    }
  }
}
