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
