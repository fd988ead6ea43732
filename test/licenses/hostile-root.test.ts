// Hostile roots: a partner's image decides what its /usr/share/doc holds. Links that point
// outside (absolute, ../..), loops, long chains, huge and binary copyright files: extraction
// reads only inside the root, ends, and sends what it cannot read to a person.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { extractDebian } from '../../activities/licenses';
import { readInRoot, resolveInRoot } from '../../activities/licenses/root-source';
import { runChecked } from '../../activities/process-runner';
import { makeTmpDir, removeDir, silentLogger } from '../activities/helpers';

jest.setTimeout(300_000);

let root: string;
let outside: string;
const SECRET = 'HOST-SECRET-TEXT Permission to use, copy, modify, and distribute this software for any purpose with or without fee is hereby granted.';
const doc = (...p: string[]) => path.join(root, 'usr/share/doc', ...p);
const names: string[] = [];

function pkg(name: string, make: () => void): void {
  names.push(name);
  make();
}

beforeAll(() => {
  root = makeTmpDir('sborka-lic-hostile-');
  outside = makeTmpDir('sborka-lic-outside-');
  fs.mkdirSync(path.join(outside, 'doc'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'doc', 'copyright'), SECRET);
  fs.writeFileSync(path.join(outside, 'copyright'), SECRET);
  fs.mkdirSync(doc(), { recursive: true });
  const rel = path.relative(doc('x'), outside); // ../../../../../tmp/sborka-lic-outside-…
  pkg('abs-dir', () => fs.symlinkSync(path.join(outside, 'doc'), doc('abs-dir')));
  pkg('abs-etc', () => fs.symlinkSync('/etc', doc('abs-etc')));
  pkg('dotdot-dir', () => fs.symlinkSync(path.join(rel, 'doc'), doc('dotdot-dir')));
  pkg('dotdot-file', () => {
    fs.mkdirSync(doc('dotdot-file'));
    fs.symlinkSync(path.join('..', rel, 'copyright'), doc('dotdot-file', 'copyright'));
  });
  pkg('loop', () => {
    fs.symlinkSync('loop-b', doc('loop'));
    fs.symlinkSync('loop', doc('loop-b'));
  });
  pkg('self', () => {
    fs.mkdirSync(doc('self'));
    fs.symlinkSync('copyright', doc('self', 'copyright'));
  });
  pkg('deep', () => {
    // 60 links in a row: more than the 40 a kernel would follow.
    for (let i = 0; i < 60; i += 1) fs.symlinkSync(i === 59 ? 'real' : `deep-${i + 1}`, doc(i === 0 ? 'deep' : `deep-${i}`));
    fs.mkdirSync(doc('real'));
    fs.writeFileSync(doc('real', 'copyright'), 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT\n');
  });
  pkg('short-chain', () => {
    for (let i = 0; i < 10; i += 1) fs.symlinkSync(i === 9 ? 'real' : `chain-${i + 1}`, doc(i === 0 ? 'short-chain' : `chain-${i}`));
  });
  pkg('pointer-out', () => {
    fs.mkdirSync(doc('pointer-out'));
    fs.writeFileSync(doc('pointer-out', 'copyright'), 'For the license, see /usr/share/doc/../../../../etc/copyright\n');
  });
  pkg('huge-line', () => {
    fs.mkdirSync(doc('huge-line'));
    fs.writeFileSync(doc('huge-line', 'copyright'), `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: weird\n ${'permission '.repeat(400_000)}\n`);
  });
  pkg('huge-free', () => {
    fs.mkdirSync(doc('huge-free'));
    fs.writeFileSync(doc('huge-free', 'copyright'), `${' '.repeat(3_000_000)}x\n${'a'.repeat(2_000_000)}`);
  });
  pkg('garbage', () => {
    fs.mkdirSync(doc('garbage'));
    const bytes = Buffer.alloc(256 * 1024);
    let x = 12345;
    for (let i = 0; i < bytes.length; i += 1) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      bytes[i] = x >> 16;
    }
    fs.writeFileSync(doc('garbage', 'copyright'), bytes);
  });
  fs.mkdirSync(path.join(root, 'var/lib/dpkg'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), names.map((n) => `Package: ${n}\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n`).join('\n'));
});
afterAll(() => {
  removeDir(root);
  removeDir(outside);
});

describe('resolveInRoot', () => {
  it('keeps absolute and ../ links inside the root', async () => {
    // The link names the host's directory; inside the root that path does not exist.
    expect(await resolveInRoot(root, 'usr/share/doc/abs-dir/copyright')).toBeUndefined();
    // Where the root has that path, the root's file is read, never the host's.
    fs.mkdirSync(path.join(root, outside, 'doc'), { recursive: true });
    fs.writeFileSync(path.join(root, outside, 'doc', 'copyright'), 'the root\'s own file');
    expect(await resolveInRoot(root, 'usr/share/doc/abs-dir/copyright')).toBe(path.join(root, outside, 'doc', 'copyright'));
    expect(await readInRoot(root, 'usr/share/doc/abs-dir/copyright')).toBe('the root\'s own file');
    fs.rmSync(path.join(root, 'tmp'), { recursive: true });
    expect(await readInRoot(root, 'usr/share/doc/abs-dir/copyright')).toBeUndefined();
    expect(await readInRoot(root, 'usr/share/doc/abs-etc/passwd')).toBeUndefined();
    expect(await readInRoot(root, 'usr/share/doc/dotdot-dir/copyright')).toBeUndefined();
    expect(await readInRoot(root, 'usr/share/doc/dotdot-file/copyright')).toBeUndefined();
    expect(await readInRoot(root, '../../../../etc/passwd')).toBeUndefined();
  });
  it('gives up on loops and on chains longer than 40 links, follows shorter ones', async () => {
    expect(await resolveInRoot(root, 'usr/share/doc/loop/copyright')).toBeUndefined();
    expect(await resolveInRoot(root, 'usr/share/doc/self/copyright')).toBeUndefined();
    expect(await resolveInRoot(root, 'usr/share/doc/deep/copyright')).toBeUndefined();
    expect(await readInRoot(root, 'usr/share/doc/short-chain/copyright')).toContain('License: MIT');
  });
});

describe('extractDebian on a hostile root', () => {
  it('reads nothing from outside, ends, and leaves what it cannot read to a person', async () => {
    const ctx = {
      step: { id: 'verify-licenses' } as never, signal: new AbortController().signal, progress: () => undefined,
      run: (argv: readonly string[], o: { onLine?: (l: string, s: 'stdout' | 'stderr') => void } = {}) =>
        runChecked({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, cwd: outside, logPath: path.join(outside, 'log'), attempt: 1, logger: silentLogger, onLine: o.onLine }),
    };
    const pkgs = await extractDebian(ctx, root);
    expect(pkgs.map((p) => p.name).sort()).toEqual([...names].sort());
    expect(JSON.stringify(pkgs)).not.toContain('HOST-SECRET-TEXT');
    const by = (n: string) => pkgs.find((p) => p.name === n)!;
    for (const n of ['abs-dir', 'abs-etc', 'dotdot-dir', 'dotdot-file', 'loop', 'self', 'deep']) expect(by(n).licenseSource).toBe('missing');
    expect(by('short-chain')).toMatchObject({ licenseSource: 'dep5', declared: ['MIT'] });
    // The pointer's ".." stays in the root (usr/share/doc/../../../../etc is the root's /etc): nothing there, its own text kept.
    expect(by('pointer-out')).toMatchObject({ licenseSource: 'unparsed', origin: '/usr/share/doc/pointer-out/copyright (no Format: header)' });
    expect(by('huge-line')).toMatchObject({ licenseSource: 'dep5', declared: ['weird'] });
    expect(by('huge-line').identified).toBeUndefined();
    for (const n of ['huge-free', 'garbage']) {
      expect(by(n).licenseSource).toBe('unparsed');
      expect(by(n).raw!.length).toBeLessThanOrEqual(64 * 1024);
      expect(by(n).guess).toBeUndefined();
    }
  });
});
