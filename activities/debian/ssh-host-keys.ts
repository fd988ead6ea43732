// SSH host keys are a machine's identity: openssh-server's postinst makes random ones while
// the root is built, so every machine made from the image would share one secret, and no
// two builds of the same lock would give the same root. prepare-root's mmdebstrap removes the
// keys (SSH_HOST_KEY_GLOBS); configure removes those made where it installs the packages
// itself (a foreign root, inside its VM), before the recipe's overlays, whose keys stay: a
// recipe may ship keys on purpose. With sshd in the root, configure enables a unit that
// makes each machine's own keys at its first boot, before sshd starts.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { KindContext } from '../kinds/registry';
import { appendLogLines } from '../step-log';
import { existsInRoot, resolveInRoot, symlinkInRoot, writeInRoot } from './root-fs';

export const SSH_KEYGEN_UNIT = 'sborka-ssh-host-keys.service';

const KEY_FILE = /^ssh_host_[a-z0-9]+_key(\.pub)?$/;
/** The same files as shell globs, for mmdebstrap's hooks. */
export const SSH_HOST_KEY_GLOBS = ['/etc/ssh/ssh_host_*_key', '/etc/ssh/ssh_host_*_key.pub'];

// ssh-keygen -A makes only the key types that are missing; a oneshot holds sshd back until
// it is done. Socket activation (ssh.socket) is left alone: ordering before it would cycle
// with basic.target, and Debian starts ssh.service by default.
const UNIT_TEXT = [
  '[Unit]',
  'Description=SSH host keys of this machine (the image ships none)',
  'Before=ssh.service sshd.service',
  'ConditionPathExists=/usr/bin/ssh-keygen',
  '',
  '[Service]',
  'Type=oneshot',
  'RemainAfterExit=yes',
  'ExecStart=/usr/bin/ssh-keygen -A',
  '',
  '[Install]',
  'WantedBy=multi-user.target',
  '',
].join('\n');

/** The host keys in the root's /etc/ssh, by file name, sorted. */
export async function sshHostKeys(root: string): Promise<string[]> {
  const dir = await resolveInRoot(root, '/etc/ssh');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => KEY_FILE.test(n)).sort();
}

/** Removes the host keys in the root; with sshd there, enables the first-boot unit. */
export async function removeSshHostKeys(ctx: KindContext, root: string): Promise<void> {
  const keys = await sshHostKeys(root);
  const dir = await resolveInRoot(root, '/etc/ssh');
  for (const k of keys) await fs.rm(path.join(dir, k), { force: true });
  const sshd = await existsInRoot(root, '/usr/sbin/sshd');
  if (sshd) {
    await writeInRoot(root, `/etc/systemd/system/${SSH_KEYGEN_UNIT}`, UNIT_TEXT);
    await symlinkInRoot(root, `/etc/systemd/system/multi-user.target.wants/${SSH_KEYGEN_UNIT}`, `/etc/systemd/system/${SSH_KEYGEN_UNIT}`);
  }
  await appendLogLines(ctx.logPath, [
    ...(keys.length ? [`--- sborka: SSH host keys made while installing packages removed (${keys.join(', ')}): every machine of the image would share them`] : []),
    ...(sshd ? [`--- sborka: ${SSH_KEYGEN_UNIT} makes each machine's own SSH host keys at its first boot, before sshd starts`] : []),
  ]);
}
