// RPM %changelog entries in the changes between two alt builds (activities/alt/changelog.ts):
// tiny real RPMs built with rpmbuild and read with the real rpm (Debian's rpm package), an
// upgrade, a downgrade, a package without a changelog, hostile headers, and CHANGES.md
// published from two alt locks.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { altChangelogs, altRpmDir, parseChangelogQuery, rpmChangelog, rpmFileOf, splitChangelogName } from '../../activities/alt/changelog';
import { changesFiles } from '../../activities/publish/changes-files';
import { compareBuilds, type ChangeSide } from '../../publish/changes';
import { makeTmpDir, removeDir } from '../activities/helpers';

interface SpecEntry { day: string; name: string; text: string }
const IVAN = 'Ivan Ivanov <iv@altlinux.org>';

let dir: string;
beforeAll(() => { dir = makeTmpDir('sborka-alt-changelog-'); });
afterAll(() => removeDir(dir));

/** `<name>-<version>-<release>.noarch.rpm` in `out`, built by rpmbuild from a spec with these %changelog entries (newest first). */
function makeRpm(out: string, name: string, version: string, release: string, entries: readonly SpecEntry[]): string {
  const top = fs.mkdtempSync(path.join(dir, 'top-'));
  const log = entries.map((e) => `* ${e.day} ${e.name}\n${e.text}\n`).join('\n');
  const spec = path.join(top, `${name}.spec`);
  fs.writeFileSync(spec, [
    `Name: ${name}`, `Version: ${version}`, `Release: ${release}`, 'Summary: changelog test', 'License: MIT', 'BuildArch: noarch',
    '%description', 'changelog test', '%files', ...(entries.length ? ['%changelog', log] : []), '',
  ].join('\n'));
  execFileSync('nice', ['-n', '19', 'rpmbuild', '-bb', '--quiet', '--define', `_topdir ${top}`, '--define', '_build_id_links none', spec], { stdio: 'pipe', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `${name}-${version}-${release}.noarch.rpm`);
  fs.renameSync(path.join(top, 'RPMS', 'noarch', path.basename(file)), file);
  fs.rmSync(top, { recursive: true, force: true });
  return file;
}

const E10 = { day: 'Mon Jan 01 2024', name: `${IVAN} 1.0-alt1`, text: '- initial build' };
const E11 = { day: 'Thu Feb 01 2024', name: `${IVAN} 1.1-alt1`, text: "- 1.1: fixed the 'quoted'\n  tabbed\tline" };
const E12 = { day: 'Fri Mar 01 2024', name: 'Petr Petrov <pp@altlinux.org> 1.2-alt1', text: '- 1.2 (closes: #123)' };

function side(buildId: string, packages: Array<[string, string]>, rpmDirs: string[]): ChangeSide {
  return { buildId, product: 'alt-min', arch: 'x86_64', versions: 'rpm', rpmDirs, packages: packages.map(([name, version]) => ({ name, version, arch: 'noarch' })) };
}

describe('RPM changelogs between two alt builds (real rpmbuild and rpm)', () => {
  let oldDir: string;
  let newDir: string;
  beforeAll(() => {
    oldDir = path.join(dir, 'old', 'RPMS.hasher');
    newDir = path.join(dir, 'new', 'RPMS.hasher');
    makeRpm(oldDir, 'hello', '1.0', 'alt1', [E10]);
    makeRpm(newDir, 'hello', '1.2', 'alt1', [E12, E11, E10]);
    makeRpm(oldDir, 'libdown', '2.0', 'alt2', [
      { day: 'Tue Jan 02 2024', name: `${IVAN} 2.0-alt2`, text: '- rebuilt with the new toolchain' },
      { day: 'Mon Jan 01 2024', name: `${IVAN} 2.0-alt1`, text: '- 2.0' },
    ]);
    makeRpm(newDir, 'libdown', '2.0', 'alt1', [{ day: 'Mon Jan 01 2024', name: `${IVAN} 2.0-alt1`, text: '- 2.0' }]);
    makeRpm(oldDir, 'nolog', '1', 'alt1', []);
    makeRpm(newDir, 'nolog', '2', 'alt1', []);
  });

  it('reads the header entries newest first with rpm -qp, dates in UTC as rpm:day prints them', () => {
    const entries = rpmChangelog(path.join(newDir, 'hello-1.2-alt1.noarch.rpm'))!;
    expect(entries.map((e) => e.version)).toEqual(['1.2-alt1', '1.1-alt1', '1.0-alt1']);
    expect(entries[1]).toEqual({
      version: '1.1-alt1', heading: `* Thu Feb 01 2024 ${IVAN} 1.1-alt1`,
      changes: ["- 1.1: fixed the 'quoted'", '  tabbed\tline'], byline: `${IVAN}  Thu Feb 01 2024`,
    });
    // What rpm's own --changelog prints, for the same file (TZ=UTC: rpm's :day uses local time).
    const own = execFileSync('rpm', ['-qp', '--changelog', path.join(newDir, 'hello-1.2-alt1.noarch.rpm')], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    expect(own.split('\n').filter((l) => l.startsWith('* '))).toEqual(entries.map((e) => e.heading));
  });

  it('an upgrade lists the entries after the old version up to the new, a downgrade those taken away, a package without a changelog none', () => {
    const a = side('b1', [['hello', '1.0-alt1'], ['libdown', '2.0-alt2'], ['nolog', '1-alt1']], [oldDir]);
    const b = side('b2', [['hello', '1.2-alt1'], ['libdown', '2.0-alt1'], ['nolog', '2-alt1']], [newDir]);
    const c = compareBuilds(a, b, altChangelogs([a, b], {}));
    expect(c.packages.upgraded.map((p) => [p.name, p.from, p.to, p.changelog.map((e) => [e.version, e.byline])])).toEqual([
      ['hello', '1.0-alt1', '1.2-alt1', [['1.2-alt1', 'Petr Petrov <pp@altlinux.org>  Fri Mar 01 2024'], ['1.1-alt1', `${IVAN}  Thu Feb 01 2024`]]],
      ['nolog', '1-alt1', '2-alt1', []],
    ]);
    expect(c.packages.downgraded.map((p) => [p.name, p.changelog.map((e) => e.version)])).toEqual([['libdown', ['2.0-alt2']]]);
  });

  it('an epoch in the lock but not in the changelog names still places the entries', () => {
    const a = side('b1', [['hello', '1:1.0-alt1']], [oldDir]);
    const b = side('b2', [['hello', '1:1.2-alt1']], [newDir]);
    const c = compareBuilds(a, b, altChangelogs([a, b], {}));
    expect(c.packages.upgraded[0]!.changelog.map((e) => e.version)).toEqual(['1.2-alt1', '1.1-alt1']);
  });

  it('hostile headers: a 1 MB text is capped, control characters removed, a name without a version kept only inside the range', () => {
    const out = path.join(dir, 'hostile');
    const huge = Array.from({ length: 10_500 }, (_, i) => `- line ${i} ${'x'.repeat(90)}`).join('\n');
    expect(huge.length).toBeGreaterThan(1_000_000);
    makeRpm(out, 'evil', '3', 'alt1', [
      { day: 'Sat Mar 02 2024', name: `${IVAN} 3-alt1`, text: huge },
      { day: 'Fri Mar 01 2024', name: 'Nobody Without A Version <n@example.org>', text: '- \u001b[31mred\u001b[0m and a bell\u0007' },
      { day: 'Thu Feb 01 2024', name: `${IVAN} 2-alt1`, text: '- 2' },
    ]);
    // The header really carries the escape and the bell (rpm prints them as stored).
    expect(execFileSync('rpm', ['-qp', '--changelog', path.join(out, 'evil-3-alt1.noarch.rpm')], { encoding: 'utf8', maxBuffer: 1 << 24 })).toContain('\u001b[31mred')
    const entries = rpmChangelog(path.join(out, 'evil-3-alt1.noarch.rpm'))!;
    expect(entries).toHaveLength(3);
    expect(entries[0]!.changes.length).toBeLessThanOrEqual(41);
    expect(entries[0]!.changes.join('\n').length).toBeLessThan(5000);
    expect(entries[0]!.changes.at(-1)).toMatch(/^\[\d+ more lines cut\]$/);
    expect(entries[1]).toMatchObject({ version: '', changes: ['- [31mred[0m and a bell'], byline: 'Nobody Without A Version <n@example.org>  Fri Mar 01 2024' });
    const a: ChangeSide = { ...side('b1', [['evil', '2-alt1']], []) };
    const b: ChangeSide = { ...side('b2', [['evil', '3-alt1']], [out]) };
    const c = compareBuilds(a, b, altChangelogs([a, b], {}));
    expect(c.packages.upgraded[0]!.changelog.map((e) => e.version)).toEqual(['3-alt1', '']);
  });

  it('refuses file names that leave the directory, symlinks and files that are not RPMs', () => {
    expect(rpmFileOf({ name: '../../etc/x', version: '1-alt1', arch: 'noarch' })).toBeUndefined();
    expect(rpmFileOf({ name: '.hidden', version: '1-alt1', arch: 'noarch' })).toBeUndefined();
    expect(rpmFileOf({ name: 'a', version: '1-alt1', arch: '../x' })).toBeUndefined();
    expect(rpmFileOf({ name: 'a', version: '1:1.0-alt1', arch: 'noarch' })).toBe('a-1.0-alt1.noarch.rpm');
    const links = path.join(dir, 'links');
    fs.mkdirSync(links);
    fs.symlinkSync(path.join(newDir, 'hello-1.2-alt1.noarch.rpm'), path.join(links, 'hello-1.2-alt1.noarch.rpm'));
    expect(rpmChangelog(path.join(links, 'hello-1.2-alt1.noarch.rpm'))).toBeUndefined();
    fs.writeFileSync(path.join(links, 'junk-1-alt1.noarch.rpm'), 'not an rpm\n');
    expect(rpmChangelog(path.join(links, 'junk-1-alt1.noarch.rpm'))).toBeUndefined();
  });

  it('parses rpm\'s :shescape records and rejects anything else', () => {
    expect(parseChangelogQuery("1704110400\n'A <a@b> 1-alt1'\n'- it'\\''s\nfine'\n")).toEqual([{ time: 1704110400, name: 'A <a@b> 1-alt1', text: "- it's\nfine" }]);
    expect(() => parseChangelogQuery("x\n'A'\n'B'\n")).toThrow();
    expect(() => parseChangelogQuery("1\n'A\n")).toThrow();
    expect(splitChangelogName('A <a@b> - 1:2.0-alt1.1')).toEqual({ author: 'A <a@b>', version: '1:2.0-alt1.1' });
    expect(splitChangelogName('A <a@b>')).toEqual({ author: 'A <a@b>', version: '' });
  });

  it('CHANGES.md published beside the second alt nightly lists the RPM entries', async () => {
    const altLock = (version: string) => `${JSON.stringify({
      version: 1, toolchain: 'alt', branch: 'sisyphus', arch: 'x86_64', requested: { packages: ['hello'], exclude: [] }, built: [],
      packages: [{ name: 'hello', version, release: 'alt1', arch: 'noarch', license: 'MIT', sourcerpm: `hello-${version}-alt1.src.rpm` }],
    })}\n`;
    const root = path.join(dir, 'published');
    fs.mkdirSync(path.join(root, 'v1'), { recursive: true });
    fs.writeFileSync(path.join(root, 'v1', 'packages.lock.json'), altLock('1.0'));
    fs.writeFileSync(path.join(root, 'v1', 'build.json'), JSON.stringify({ buildId: 'b1', product: 'alt-min', arch: 'x86_64', lock: { file: 'packages.lock.json' } }));
    const store = path.join(dir, 'store-resolve');
    fs.mkdirSync(store, { recursive: true });
    fs.writeFileSync(path.join(store, 'packages.lock.json'), altLock('1.2'));
    fs.mkdirSync(altRpmDir(store, 'x86_64'), { recursive: true });
    fs.copyFileSync(path.join(newDir, 'hello-1.2-alt1.noarch.rpm'), path.join(altRpmDir(store, 'x86_64'), 'hello-1.2-alt1.noarch.rpm'));
    const workDir = path.join(dir, 'work');
    const files = await changesFiles({
      root, rel: 'v2', versionIndex: 0, buildJson: { buildId: 'b2', product: 'alt-min', arch: 'x86_64', lock: { file: 'packages.lock.json' } },
      files: [], lockFile: path.join(store, 'packages.lock.json'), debDir: path.join(dir, 'no-debs'), workDir,
    });
    expect(files.map((f) => f.name).sort()).toEqual(['CHANGES.md', 'changes.json']);
    const md = fs.readFileSync(path.join(workDir, 'changes', 'CHANGES.md'), 'utf8');
    expect(md).toContain([
      '- upgraded hello 1.0-alt1 → 1.2-alt1',
      '  - 1.2-alt1 (Petr Petrov <pp@altlinux.org>  Fri Mar 01 2024)',
      '    - 1.2 (closes: #123)',
      `  - 1.1-alt1 (${IVAN}  Thu Feb 01 2024)`,
      "    - 1.1: fixed the 'quoted'",
    ].join('\n'));
    expect(md).not.toContain('initial build');
  });
});
