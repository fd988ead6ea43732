// Where prepare-root's mmdebstrap builds a root: a tmpfs only when it is one and has room for
// the estimate (else the work directory), a 0700 directory of its own there, released after;
// the sweep of dead builds' directories removes only real directories of this module's name,
// of this user, of a process that is gone: never a symlink's target, a live build's, another
// user's or a name it did not make. The estimate comes from the Packages indexes or not at all.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { estimateRootBytes, rootScratch, sweepOrphanScratch } from '../../activities/debian/root-scratch';
import type { LockedPackage } from '../../activities/debian/lock';
import { makeTmpDir, removeDir } from '../activities/helpers';

const TMPFS_MAGIC = 0x01021994;
let work: string;

beforeEach(() => {
  work = makeTmpDir('sborka-root-scratch-');
});
afterEach(() => removeDir(work));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

describe('rootScratch', () => {
  test('a directory that is not a tmpfs is never used: the root goes to the work directory', async () => {
    const notTmpfs = path.join(work, 'disk');
    fs.mkdirSync(notTmpfs);
    expect(Number(fs.statfsSync(notTmpfs).type)).not.toBe(TMPFS_MAGIC);
    const s = await rootScratch(work, 1, notTmpfs);
    expect(s.onTmpfs).toBe(false);
    expect(path.dirname(s.dir)).toBe(work);
    expect(fs.readdirSync(notTmpfs)).toEqual([]);
  });

  test('on /dev/shm (a tmpfs): a 0700 directory of this process for a small root, released after; an unknown or huge estimate stays on disk', async () => {
    expect(Number(fs.statfsSync('/dev/shm').type)).toBe(TMPFS_MAGIC);
    const s = await rootScratch(work, 64 * 2 ** 20, '/dev/shm');
    expect(s.onTmpfs).toBe(true);
    expect(path.basename(s.dir)).toMatch(new RegExp(`^sborka-root-${process.pid}-[A-Za-z0-9]{6}$`));
    expect(path.dirname(s.dir)).toBe('/dev/shm');
    expect(fs.statSync(s.dir).mode & 0o777).toBe(0o700);
    fs.writeFileSync(path.join(s.dir, 'f'), 'x');
    await s.release();
    expect(fs.existsSync(s.dir)).toBe(false);

    for (const estimate of [undefined, 2 ** 50]) {
      const d = await rootScratch(work, estimate, '/dev/shm');
      expect(d.onTmpfs).toBe(false);
      expect(path.dirname(d.dir)).toBe(work);
    }
  });
});

describe('sweepOrphanScratch', () => {
  test('removes a dead build\'s directory only: not a live one, this process\'s, a symlink\'s target, another user\'s or a foreign name', async () => {
    const shm = path.join(work, 'shm');
    fs.mkdirSync(shm);
    const dead = deadPid();
    const mk = (name: string) => {
      const d = path.join(shm, name);
      fs.mkdirSync(path.join(d, 'usr', 'bin'), { recursive: true });
      fs.writeFileSync(path.join(d, 'usr', 'bin', 'sh'), 'x');
      return d;
    };
    const orphan = mk(`sborka-root-${dead}-aB3dE9`);
    const live = mk(`sborka-root-${process.ppid}-aB3dE9`);
    const mine = mk(`sborka-root-${process.pid}-aB3dE9`);
    const foreignName = mk(`sborka-root-${dead}-toolongname`);
    const other = mk(`other-${dead}-aB3dE9`);
    const outside = path.join(work, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep'), 'x');
    fs.symlinkSync(outside, path.join(shm, `sborka-root-${dead}-Sym123`));
    const isRoot = process.getuid?.() === 0;
    const othersDir = isRoot ? mk(`sborka-root-${dead}-Other1`) : undefined;
    if (othersDir) fs.chownSync(othersDir, 54321, 54321);

    const removed = await sweepOrphanScratch(shm);
    expect(removed).toEqual([orphan]);
    expect(fs.existsSync(orphan)).toBe(false);
    for (const kept of [live, mine, foreignName, other, ...(othersDir ? [othersDir] : [])]) expect(fs.existsSync(path.join(kept, 'usr', 'bin', 'sh'))).toBe(true);
    expect(fs.lstatSync(path.join(shm, `sborka-root-${dead}-Sym123`)).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(outside, 'keep'), 'utf8')).toBe('x');
  });

  test('a missing directory sweeps nothing', async () => {
    await expect(sweepOrphanScratch(path.join(work, 'absent'))).resolves.toEqual([]);
  });
});

describe('estimateRootBytes', () => {
  const pkg = (name: string, version: string, arch = 'amd64'): LockedPackage => ({ name, version, arch, source: name, sourceVersion: version, sha256: '0'.repeat(64), layer: 'base' });
  const stanza = (name: string, version: string, installed: string, size: string, arch = 'amd64') =>
    `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}\nInstalled-Size: ${installed}\nDescription: x\n continued\nSize: ${size}\n`;

  test('installed sizes (KiB) plus the debs of exactly the locked versions, over every index', async () => {
    const lists = path.join(work, 'lists');
    fs.mkdirSync(lists);
    fs.writeFileSync(path.join(lists, 'a_dists_x_main_binary-amd64_Packages'), [stanza('dash', '1', '100', '5000'), stanza('dash', '2', '999999', '1')].join('\n'));
    fs.writeFileSync(path.join(lists, 'b_dists_x-updates_main_binary-amd64_Packages'), stanza('tzdata', '3', '10', '20', 'all'));
    fs.writeFileSync(path.join(lists, 'b_dists_x_Release'), stanza('ignored', '1', '1', '1'));
    expect(await estimateRootBytes(lists, [pkg('dash', '1'), pkg('tzdata', '3', 'all')])).toBe(100 * 1024 + 5000 + 10 * 1024 + 20);
    // A version, arch or package no index lists, or a size that is not a number: no estimate.
    expect(await estimateRootBytes(lists, [pkg('dash', '3')])).toBeUndefined();
    expect(await estimateRootBytes(lists, [pkg('tzdata', '3')])).toBeUndefined();
    expect(await estimateRootBytes(lists, [pkg('dash', '1'), pkg('bash', '1')])).toBeUndefined();
    fs.writeFileSync(path.join(lists, 'c_dists_y_main_binary-amd64_Packages'), stanza('sed', '1', 'lots', '1'));
    expect(await estimateRootBytes(lists, [pkg('sed', '1')])).toBeUndefined();
    expect(await estimateRootBytes(path.join(work, 'absent'), [pkg('dash', '1')])).toBeUndefined();
  });
});
