// What changed between two builds (publish/changes.ts): dpkg's version order checked
// against dpkg itself, the package lists and changelog entries from real .debs, size
// deltas, and CHANGES.md + changes.json published beside the second nightly.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { debCacheChangelogs, debChangelog } from '../../activities/publish/changelogs';
import type { StepInput, StepResult } from '../../plan/step-contract';
import { Changes, changesMarkdown, compareBuilds, type ChangeSide } from '../../publish/changes';
import { PublishConfig } from '../../publish/config-schema';
import { changelogBetween, compareDebVersions, compareRpmVersions, parseDebianChangelog, parseRpmChangelog } from '../../publish/debversion';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from '../activities/helpers';
import { AFTER, BEFORE, changelogText, fillDebCache, lockOf } from './changes-helpers';
import { storeEntry } from './helpers';

let dir: string;
let config: Config;
let debs: string;
const savedCache = process.env.SBORKA_DEBIAN_CACHE_DIR;

beforeAll(() => {
  dir = makeTmpDir('sborka-changes-');
  config = testConfig(path.join(dir, 'state'));
  debs = path.join(dir, 'debs');
  fillDebCache(debs);
  process.env.SBORKA_DEBIAN_CACHE_DIR = debs;
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.SBORKA_DEBIAN_CACHE_DIR;
  else process.env.SBORKA_DEBIAN_CACHE_DIR = savedCache;
  removeDir(dir);
});

describe('dpkg version order', () => {
  const pairs: Array<[string, string]> = [
    ['1.0', '1.0'], ['1.0-1', '1.0-2'], ['1.10', '1.9'], ['1.0~rc1', '1.0'], ['1.0~~', '1.0~'], ['1:0.1', '2.0'],
    ['1.0a', '1.0'], ['1.0+b1', '1.0'], ['1.0-1', '1.0-1ubuntu1'], ['2.30-1', '2.3-10'], ['0:1.0', '1.0'], ['1.0.0', '1.0'],
    ['1.2-1', '1.10~rc1-1'], ['2:3.0-2', '2:3.0-1'], ['1.0-a', '1.0-+'], ['7.1.ds-1', '7.1-1'], ['1.001', '1.1'],
  ];
  it.each(pairs)('%s vs %s agrees with dpkg --compare-versions', (a, b) => {
    const dpkg = (op: string) => {
      try {
        execFileSync('dpkg', ['--compare-versions', a, op, b]);
        return true;
      } catch {
        return false;
      }
    };
    const ours = Math.sign(compareDebVersions(a, b));
    expect(ours).toBe(dpkg('lt') ? -1 : dpkg('eq') ? 0 : 1);
  });
});

describe('rpm version order', () => {
  const pairs: Array<[string, string]> = [
    ['1.0', '1.0'], ['1.0', '1.1'], ['1.10', '1.9'], ['1.0~rc1', '1.0'], ['1.0^1', '1.0'], ['1.0^1', '1.0.1'], ['1.0a', '1.0'], ['1.0', '1.0.a'],
    ['2.0-alt1', '2.0-alt2'], ['2.0-alt10', '2.0-alt9'], ['1:1.0-alt1', '2.0-alt1'], ['1.001', '1.1'], ['1.0.0', '1.0'], ['a', '1'], ['1.0_1', '1.0.1'],
  ];
  it.each(pairs)('%s vs %s agrees with rpm', (a, b) => {
    // rpm.vercmp parses [epoch:]version[-release] itself (rpmver), as rpm orders packages.
    const want = Number(execFileSync('rpm', ['--eval', `%{lua: print(rpm.vercmp("${a}", "${b}"))}`], { encoding: 'utf8' }).trim());
    expect(Math.sign(compareRpmVersions(a, b))).toBe(Math.sign(want));
  });
});

describe('changelogs', () => {
  it('reads a Debian changelog and picks the entries between two versions, both ways', () => {
    const entries = parseDebianChangelog(changelogText('libup', ['1.0-1', '1.2-1', '1.3-1', '1.10~rc1-1']));
    expect(entries.map((e) => e.version)).toEqual(['1.10~rc1-1', '1.3-1', '1.2-1', '1.0-1']);
    expect(entries[0]).toEqual({
      version: '1.10~rc1-1', heading: 'libup (1.10~rc1-1) unstable; urgency=medium',
      changes: ['* Change 4 of libup: made 1.10~rc1-1.'], byline: 'Sborka Tests <tests@sborka.invalid>  Mon, 04 Jan 2024 12:00:00 +0000',
    });
    expect(changelogBetween(entries, '1.2-1', '1.10~rc1-1').map((e) => e.version)).toEqual(['1.10~rc1-1', '1.3-1']);
    expect(changelogBetween(entries, '1.10~rc1-1', '1.2-1').map((e) => e.version)).toEqual(['1.10~rc1-1', '1.3-1']);
  });

  it('reads an RPM %changelog as rpm -q --changelog prints it', () => {
    const text = '* Mon Jan 08 2024 Alice <alice@altlinux.org> 1.3-alt1\n- new upstream\n\n* Mon Jan 01 2024 Bob <bob@altlinux.org> 1.2-alt1\n- initial\n';
    const entries = parseRpmChangelog(text);
    expect(entries.map((e) => [e.version, e.changes])).toEqual([['1.3-alt1', ['- new upstream']], ['1.2-alt1', ['- initial']]]);
    expect(changelogBetween(entries, '1.2-alt1', '1.3-alt1').map((e) => e.version)).toEqual(['1.3-alt1']);
  });

  it('takes changelog.Debian.gz out of a real .deb', () => {
    expect(debChangelog(path.join(debs, 'libup_1.10~rc1-1_amd64.deb'), 'libup')?.map((e) => e.version)).toEqual(['1.10~rc1-1', '1.3-1', '1.2-1', '1.0-1']);
    expect(debChangelog(path.join(debs, 'not-there.deb'), 'libup')).toBeUndefined();
  });
});

const side = (buildId: string, packages: typeof BEFORE, outputs: Array<[string, number]>, extra: Partial<ChangeSide> = {}): ChangeSide => ({
  buildId, product: 'demo', arch: 'x86_64', packages: packages.map((p) => ({ ...p, arch: 'amd64' })), outputs: outputs.map(([name, size]) => ({ name, size })), ...extra,
});

describe('compareBuilds', () => {
  it('lists added, removed, upgraded and downgraded packages with their changelog entries, and size deltas', () => {
    const a = side('night-1', BEFORE, [['demo.img', 1000], ['demo.tar', 500], ['old.txt', 7]], {
      licenses: [{ name: 'libup', license: 'MIT', status: 'allow' }], licenseVerdict: 'pass', recipeDigest: 'aaa', tests: [{ name: 'boot', outcome: 'succeeded', bootMs: 900 }],
      steps: [{ name: 'resolve', kind: 'resolve', params: 'p1' }, { name: 'boot', kind: 'boot-test', params: 'p2' }],
    });
    const b = side('night-2', AFTER, [['demo.img', 1200], ['demo.tar', 450]], {
      licenses: [{ name: 'libup', license: 'MIT AND BSD-3-Clause', status: 'review' }], licenseVerdict: 'review', recipeDigest: 'bbb', tests: [{ name: 'boot', outcome: 'failed', bootMs: 1500 }],
      steps: [{ name: 'resolve', kind: 'resolve', params: 'p1' }, { name: 'boot', kind: 'boot-test', params: 'p3' }, { name: 'sbom', kind: 'exec', params: 'p4' }],
    });
    const c = Changes.parse(compareBuilds(a, b, debCacheChangelogs(debs, [a, b])));
    expect(c.packages.added).toEqual([{ name: 'libnew', version: '0.1-1', arch: 'amd64' }]);
    expect(c.packages.removed).toEqual([{ name: 'libgone', version: '0.9-1', arch: 'amd64' }]);
    expect(c.packages.upgraded.map((p) => [p.name, p.from, p.to, p.changelog.map((e) => e.version)])).toEqual([['libup', '1.2-1', '1.10~rc1-1', ['1.10~rc1-1', '1.3-1']]]);
    expect(c.packages.downgraded.map((p) => [p.name, p.from, p.to, p.changelog.map((e) => e.version)])).toEqual([['libdown', '2:3.0-2', '2:3.0-1', ['2:3.0-2']]]);
    expect(c.packages.upgraded[0]?.changelog[1]?.changes).toEqual(['* Change 3 of libup: made 1.3-1.']);
    expect(c.outputs).toEqual([
      { name: 'demo.img', from: 1000, to: 1200, delta: 200 },
      { name: 'demo.tar', from: 500, to: 450, delta: -50 },
      { name: 'old.txt', from: 7, delta: -7 },
    ]);
    expect(c.licenses).toEqual({ verdict: { from: 'pass', to: 'review' }, changed: [{ name: 'libup', from: 'MIT', fromStatus: 'allow', to: 'MIT AND BSD-3-Clause', toStatus: 'review' }] });
    expect(c.tests).toEqual([{ name: 'boot', from: 'succeeded', to: 'failed', bootMsFrom: 900, bootMsTo: 1500 }]);
    expect(c.recipe).toEqual({ from: 'aaa', to: 'bbb', changed: true, steps: { added: ['sbom'], removed: [], changed: ['boot'] } });
    const md = changesMarkdown(c);
    expect(md).toContain('1 added, 1 removed, 1 upgraded, 1 downgraded.');
    expect(md).toContain('- upgraded libup 1.2-1 → 1.10~rc1-1\n  - 1.10~rc1-1 (Sborka Tests <tests@sborka.invalid>  Mon, 04 Jan 2024 12:00:00 +0000)\n    * Change 4 of libup: made 1.10~rc1-1.\n');
    expect(md).toContain('- demo.img: 1000 → 1200 bytes (+200)');
  });

  it('refuses builds of different products or arches', () => {
    expect(() => compareBuilds(side('a', BEFORE, []), { ...side('b', AFTER, []), arch: 'aarch64' })).toThrow(/not of one product and arch/);
  });
});

describe('published changes files', () => {
  function run(input: StepInput, now: Date, publishConfig: PublishConfig): Promise<StepResult> {
    const registry = defaultRegistry({ publish: { publishConfig, now: () => now } });
    const { runStep } = createActivities({ config, logger: silentLogger, registry });
    return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, input);
  }
  /** license-report.json as licenses/report.ts writes it, trimmed to what the comparison reads. */
  const report = (verdict: string, license: string, status: string) => `${JSON.stringify({ reportVersion: 1, verdict, packages: [{ package: { name: 'libup' }, licenses: [license], status }] })}\n`;
  async function night(buildId: string, packages: typeof BEFORE, image: string, license: [string, string, string]): Promise<StepInput> {
    const inputs = {
      'build-img': await storeEntry(config.storeDir, 'build', { 'demo-x86_64.img': image }, {}),
      resolve: await storeEntry(config.storeDir, 'resolve', { 'packages.lock.json': lockOf(packages) }, {}),
      'verify-licenses': await storeEntry(config.storeDir, 'verify-licenses', { 'license-report.json': report(...license) }, { verdict: license[0] }),
    };
    return stepInput({
      id: 'publish-files', kind: 'publish', needs: Object.keys(inputs), cacheable: false,
      params: { publish: { target: 'files', path: `${root()}/nightly/demo/{build}/x86_64` }, product: 'demo', arch: 'x86_64', artifacts: ['lock', 'img', 'license-report'] },
    }, { buildId, inputs });
  }
  const root = () => path.join(dir, 'published');

  it('the second nightly carries CHANGES.md and changes.json against the first, listed in SHA256SUMS; the first carries none', async () => {
    fs.mkdirSync(root(), { recursive: true });
    const publishConfig = PublishConfig.parse({ files: [{ root: root(), owners: ['*'] }], signing: { unsigned: true } });
    await run(await night('night-1', BEFORE, 'x'.repeat(1000), ['pass', 'MIT', 'allow']), new Date('2024-01-01T03:00:00Z'), publishConfig);
    const second = await night('night-2', AFTER, 'y'.repeat(1200), ['review', 'MPL-2.0', 'review']);
    const result = await run(second, new Date('2024-01-02T03:00:00Z'), publishConfig);
    expect(result.outputs.values).toMatchObject({ status: 'published', latest: 'night-2' });
    const v1 = path.join(root(), 'nightly/demo/night-1/x86_64');
    const v2 = path.join(root(), 'nightly/demo/night-2/x86_64');
    expect(fs.readdirSync(v1).sort()).toEqual(['SHA256SUMS', 'build.json', 'demo-x86_64.img', 'license-report.json', 'packages.lock.json']);
    expect(fs.readdirSync(v2).sort()).toEqual(['CHANGES.md', 'SHA256SUMS', 'build.json', 'changes.json', 'demo-x86_64.img', 'license-report.json', 'packages.lock.json']);
    execFileSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: v2 });
    expect(fs.readFileSync(path.join(v2, 'SHA256SUMS'), 'utf8')).toMatch(/ CHANGES\.md\n[\s\S]* changes\.json\n/);
    const c = Changes.parse(JSON.parse(fs.readFileSync(path.join(v2, 'changes.json'), 'utf8')));
    expect(c.from.buildId).toBe('night-1');
    expect(c.to.buildId).toBe('night-2');
    expect(c.packages.added.map((p) => p.name)).toEqual(['libnew']);
    expect(c.packages.removed.map((p) => p.name)).toEqual(['libgone']);
    expect(c.packages.upgraded.map((p) => [p.name, p.changelog.map((e) => e.version)])).toEqual([['libup', ['1.10~rc1-1', '1.3-1']]]);
    expect(c.packages.downgraded.map((p) => [p.name, p.from, p.to])).toEqual([['libdown', '2:3.0-2', '2:3.0-1']]);
    expect(c.outputs.find((o) => o.name === 'demo-x86_64.img')).toEqual({ name: 'demo-x86_64.img', from: 1000, to: 1200, delta: 200 });
    expect(c.licenses).toEqual({ verdict: { from: 'pass', to: 'review' }, changed: [{ name: 'libup', from: 'MIT', fromStatus: 'allow', to: 'MPL-2.0', toStatus: 'review' }] });
    expect(fs.readFileSync(path.join(v2, 'CHANGES.md'), 'utf8')).toBe(changesMarkdown(c));
    // Published again: the same files, so the version is unchanged.
    expect((await run(second, new Date('2024-01-02T04:00:00Z'), publishConfig)).outputs.values).toMatchObject({ status: 'unchanged' });
  });
});
