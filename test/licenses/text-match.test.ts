// License identification by text, on real Debian copyright files of this host (Debian 12):
// a Debian short name maps to an SPDX id only when its text matches that license's text,
// a changed text does not, and a package whose copyright lives with another's is followed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { extractDebian } from '../../activities/licenses';
import { runChecked } from '../../activities/process-runner';
import { parseCopyright } from '../../licenses/debian';
import { normalizeLicense } from '../../licenses/normalize';
import { identifyLicenseText, normalizeLicenseText } from '../../licenses/text-match';
import { makeTmpDir, removeDir, silentLogger } from '../activities/helpers';

const DOC = '/usr/share/doc';
const hostText = (pkg: string, name: string): string => {
  const reading = parseCopyright(fs.readFileSync(path.join(DOC, pkg, 'copyright'), 'utf8'));
  if (reading.kind !== 'dep5') throw new Error(`${pkg}: not DEP-5 on this host`);
  const text = reading.texts[name];
  if (!text) throw new Error(`${pkg}: no License: ${name} text`);
  return text;
};

describe('identifyLicenseText on this host\'s copyright files', () => {
  const fjord = hostText('libdb5.3', 'BSD-3-clause-fjord');

  it('maps a BSD-3-clause text with its own holder\'s name to BSD-3-Clause', () => {
    expect(normalizeLicense('BSD-3-clause-fjord', 'debian').unknown).toEqual(['BSD-3-clause-fjord']);
    expect(identifyLicenseText(fjord, 'BSD-3-clause-fjord')).toMatchObject({ id: 'BSD-3-Clause' });
    expect(identifyLicenseText(fjord)?.id).toBe('BSD-3-Clause'); // without the hint too
  });

  it('maps other texts Debian names its own way', () => {
    expect(identifyLicenseText(hostText('perl-base', 'REGCOMP'))?.id).toBe('Spencer-86');
    expect(identifyLicenseText(hostText('libbz2-1.0', 'BSD-variant'))?.id).toBe('bzip2-1.0.6');
  });

  it('does not map a text with an added condition to any license, nor one with a dropped condition to BSD-3-Clause', () => {
    const added = fjord.replace('specific prior written permission.', 'specific prior written permission.\n    * This software may not be used for commercial purposes without the written permission of the authors.');
    expect(added).not.toBe(fjord);
    expect(identifyLicenseText(added)).toBeUndefined();
    const dropped = fjord.replace(/\* Redistributions in binary form[\s\S]*?distribution\.\n/, '');
    expect(dropped).not.toBe(fjord);
    // Without its binary-form clause it is another license (SPDX has BSD-Source-Code), not BSD-3-Clause.
    expect(identifyLicenseText(dropped)?.id).not.toBe('BSD-3-Clause');
  });

  it('does not read a pointer to common-licenses as a license text', () => {
    expect(identifyLicenseText(hostText('libnspr4', 'MPL-2.0'))).toBeUndefined();
  });

  it('normalises as the SPDX matching guidelines say: case, punctuation, bullets, copyright lines', () => {
    expect(normalizeLicenseText('Copyright (c) 2020 Someone\n * 1. Redistributions  OF source-code;\n .\n (a) must RETAIN')).toEqual(['redistributions', 'of', 'source', 'code', 'must', 'retain']);
  });
});

describe('extractDebian follows a package to another package\'s copyright file', () => {
  let root: string;
  const ctx = () => ({
    step: { id: 'verify-licenses' } as never, signal: new AbortController().signal, progress: () => undefined,
    run: (argv: readonly string[], o: { onLine?: (l: string, s: 'stdout' | 'stderr') => void } = {}) =>
      runChecked({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, cwd: root, logPath: path.join(root, 'log'), attempt: 1, logger: silentLogger, onLine: o.onLine }),
  });
  beforeAll(() => {
    root = makeTmpDir('sborka-lic-pointer-');
    const doc = path.join(root, 'usr/share/doc');
    fs.mkdirSync(path.join(doc, 'gcc-12-base'), { recursive: true });
    fs.mkdirSync(path.join(doc, 'libdb5.3'), { recursive: true });
    fs.mkdirSync(path.join(doc, 'libfoo'), { recursive: true });
    fs.copyFileSync(path.join(DOC, 'gcc-12-base/copyright'), path.join(doc, 'gcc-12-base/copyright'));
    fs.copyFileSync(path.join(DOC, 'libdb5.3/copyright'), path.join(doc, 'libdb5.3/copyright'));
    // As on Debian: libgcc-s1's doc directory is a link to gcc-12-base's.
    fs.symlinkSync('gcc-12-base', path.join(doc, 'libgcc-s1'));
    fs.writeFileSync(path.join(doc, 'libfoo/copyright'), 'libfoo is built from the db5.3 sources;\nfor its license, see /usr/share/doc/libdb5.3/copyright.\n');
    fs.mkdirSync(path.join(root, 'var/lib/dpkg'), { recursive: true });
    const stanza = (name: string) => `Package: ${name}\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n`;
    fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), ['gcc-12-base', 'libgcc-s1', 'libdb5.3', 'libfoo'].map(stanza).join('\n'));
  });
  afterAll(() => removeDir(root));

  it('reads a linked doc directory as its target, and gives both packages licensecheck\'s reading', async () => {
    const pkgs = await extractDebian(ctx(), root);
    const gcc = pkgs.find((p) => p.name === 'gcc-12-base')!;
    const libgcc = pkgs.find((p) => p.name === 'libgcc-s1')!;
    expect(libgcc.licenseSource).toBe('unparsed');
    expect(gcc.guess).toMatch(/GPL-3\+/);
    expect(libgcc.guess).toBe(gcc.guess);
  });

  it('follows "see /usr/share/doc/X/copyright" to the other package\'s DEP-5 file, and identifies its texts', async () => {
    const pkgs = await extractDebian(ctx(), root);
    const foo = pkgs.find((p) => p.name === 'libfoo')!;
    const db = pkgs.find((p) => p.name === 'libdb5.3')!;
    expect(foo.origin).toBe('/usr/share/doc/libfoo/copyright → /usr/share/doc/libdb5.3/copyright (DEP-5)');
    expect(foo.licenseSource).toBe('dep5');
    expect(foo.declared).toEqual(db.declared);
    expect(foo.identified).toMatchObject({ 'BSD-3-clause-fjord': 'BSD-3-Clause' });
    expect(normalizeLicense('BSD-3-clause-fjord', 'debian', foo.identified)).toMatchObject({ expression: 'BSD-3-Clause', unknown: [] });
  });
});
