// Recorded license decisions: dpkg's version order, ranges, and how a judgement applies them
// (first asks, a decision is recorded, the second asks nobody; a version outside the range or
// a changed expression asks again with the old decision shown; scopes; expiry; deny stays).
// Then the kind's cache key and the CLI over a real state directory.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { verifyLicensesKind } from '../../activities/licenses';
import type { KindContext } from '../../activities/kinds/registry';
import { licenseCommand } from '../../cli/commands/license';
import { Decision, DecisionFile, versionInRange } from '../../licenses/decisions';
import { compareDebVersions } from '../../licenses/debversion';
import type { InstalledPackage } from '../../licenses/model';
import { evaluatePackages, type PackageResult } from '../../licenses/policy';
import { buildReport, renderMarkdown } from '../../licenses/report';
import { openApiDb } from '../../service/api/db';
import { listDecisions, recordDecisions } from '../../service/api/decisions';
import { makeTmpDir, removeDir, testConfig } from '../activities/helpers';

describe('Debian versions, as dpkg orders them', () => {
  const dpkg = (a: string, op: 'lt' | 'eq' | 'gt', b: string) => {
    try {
      execFileSync('dpkg', ['--compare-versions', a, op, b], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const sign = (n: number) => (n < 0 ? 'lt' : n > 0 ? 'gt' : 'eq');
  const PAIRS = [
    ['1.0', '1.0-1'], ['1.0~rc1', '1.0'], ['1.0~rc1-1', '1.0-1'], ['1:0.9', '2.0'], ['2.36.1-8+deb12u1', '2.36.1-8'], ['1.2.3a', '1.2.3'],
    ['1.2.3+b1', '1.2.3.1'], ['0001.0', '1.0'], ['1.0-1~bpo1', '1.0-1'], ['10.0', '9.9'], ['1.0a', '1.0+'], ['1.0~~', '1.0~'], ['2.1-0ubuntu1', '2.1-0'],
    ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12'], ['1:2.38.1-5+deb12u1', '2.38.1-5+deb12u1'], ['3.0.11-1~deb12u2', '3.0.11-1'],
  ];
  it.each(PAIRS)('%s vs %s agrees with dpkg --compare-versions', (a, b) => {
    expect(dpkg(a, sign(compareDebVersions(a, b)), b)).toBe(true);
    expect(dpkg(b, sign(compareDebVersions(b, a)), a)).toBe(true);
  });

  it('agrees with dpkg on generated versions', () => {
    const part = fc.stringMatching(/^[0-9][0-9a-z.+~]{0,6}$/);
    fc.assert(fc.property(fc.nat({ max: 2 }), part, fc.option(fc.stringMatching(/^[0-9a-z.+~]{1,5}$/), { nil: undefined }), part, (epoch, up, rev, other) => {
      const a = `${epoch > 0 ? `${epoch}:` : ''}${up}${rev ? `-${rev}` : ''}`;
      expect(dpkg(a, sign(compareDebVersions(a, other)), other)).toBe(true);
    }), { numRuns: 60 });
  });

  it('reads ranges in dpkg relation syntax', () => {
    expect(versionInRange('2.36.1-8', '>= 2.36, << 2.37')).toBe(true);
    expect(versionInRange('2.37', '>= 2.36, << 2.37')).toBe(false);
    expect(versionInRange('1.0-1', '= 1.0-1')).toBe(true);
    expect(versionInRange('1.0-2', '= 1.0-1')).toBe(false);
    expect(versionInRange('anything1', '*')).toBe(true);
    expect(Decision.shape.versions.safeParse('~> 1').success).toBe(false);
    expect(Decision.shape.versions.safeParse('>= 1.0, <= 1:2').success).toBe(true);
  });
});

const policy = { name: 'p', allow: ['GPL-2.0-or-later'], review: [], deny: ['LicenseRef-unknown-Evil'], unknown: 'review' as const, waivers: [] };
const pkg = (name: string, version: string, license: string): InstalledPackage => ({
  name, version, arch: 'amd64', declared: [license], origin: `/usr/share/doc/${name}/copyright (DEP-5)`, licenseSource: 'dep5', flavour: 'debian',
});
const ROOT = [pkg('foo', '1.0-1', 'Frobnicate'), pkg('bar', '2.0-1', 'GPL-2+'), pkg('baz', '3.1-2', 'Odd-License'), pkg('evil', '1', 'Evil')];
const CTX = { product: 'debian-minimal', owner: 'community' };
const judge = (packages: InstalledPackage[], decisions: Decision[], ctx = CTX, date = '2026-12-01') => evaluatePackages(packages, policy, { date, decisions, context: ctx });
const byName = (ps: PackageResult[]) => Object.fromEntries(ps.map((p) => [p.package.name, p]));

/** What approve records: one decision per package the review asked about. */
function approveAll(results: PackageResult[], scope: Decision['scope'] = { kind: 'product', owner: 'community', product: 'debian-minimal' }): Decision[] {
  return results.filter((p) => p.status === 'review').map((p, i) => ({
    id: `d${i}`, package: p.package.name, versions: `= ${p.package.version}`, expression: p.expression, scope, by: 'ivan', reason: 'read the text: permissive', at: '2026-11-30T10:00:00Z',
  }));
}

describe('judging with recorded decisions', () => {
  it('the first judgement asks, the second (with the decisions) asks nobody and says who cleared what', () => {
    const first = judge(ROOT, []);
    expect(first.packages.filter((p) => p.status === 'review').map((p) => p.package.name)).toEqual(['foo', 'baz']);
    const decisions = approveAll(first.packages);
    const second = judge(ROOT, decisions);
    expect(second.packages.filter((p) => p.status === 'review')).toEqual([]);
    expect(byName(second.packages).foo!.status).toBe('cleared');
    // A decision answers a review, never a deny.
    expect(byName(second.packages).evil!.status).toBe('deny');
    const md = renderMarkdown(buildReport(judge(ROOT.filter((p) => p.name !== 'evil'), decisions), ROOT));
    expect(md).toContain('cleared by ivan on 2026-11-30: read the text: permissive');
    expect(md).toContain('| cleared | 2 |');
  });

  it('a version outside the range asks again, with the old decision beside it', () => {
    const decisions = approveAll(judge(ROOT, []).packages);
    const upgraded = ROOT.map((p) => (p.name === 'foo' ? { ...p, version: '1.1-1' } : p));
    const r = byName(judge(upgraded, decisions).packages);
    expect(r.foo!.status).toBe('review');
    expect(r.foo!.decision).toMatchObject({ mismatch: 'version outside the range', decision: { id: 'd0', versions: '= 1.0-1' } });
    expect(r.baz!.status).toBe('cleared');
    const md = renderMarkdown(buildReport(judge(upgraded.filter((p) => p.name !== 'evil'), decisions), upgraded));
    expect(md).toMatch(/\| review \| foo 1\.1-1 .*asked again \(version outside the range\): was cleared by ivan on 2026-11-30: read the text: permissive for LicenseRef-unknown-Frobnicate, versions = 1\.0-1/);
    // A range covers the next upload.
    const ranged = decisions.map((d) => (d.package === 'foo' ? { ...d, versions: '>= 1.0, << 2' } : d));
    expect(byName(judge(upgraded, ranged).packages).foo!.status).toBe('cleared');
  });

  it('a changed license expression asks again', () => {
    const decisions = approveAll(judge(ROOT, []).packages);
    const relicensed = ROOT.map((p) => (p.name === 'baz' ? { ...p, declared: ['Odd-License', 'Other-License'] } : p));
    const baz = byName(judge(relicensed, decisions).packages).baz!;
    expect(baz.status).toBe('review');
    expect(baz.decision).toMatchObject({ mismatch: 'expression changed', decision: { expression: 'LicenseRef-unknown-Odd-License' } });
  });

  it('applies a decision only in its scope, the most specific first, and not after it expires', () => {
    const first = judge(ROOT, []).packages;
    const acme = approveAll(first, { kind: 'owner', owner: 'partner:acme' });
    expect(byName(judge(ROOT, acme).packages).foo!.status).toBe('review');
    expect(byName(judge(ROOT, acme, { product: 'x', owner: 'partner:acme' }).packages).foo!.status).toBe('cleared');
    const other = approveAll(first, { kind: 'product', owner: 'community', product: 'another-product' });
    expect(byName(judge(ROOT, other).packages).foo!.decision).toBeUndefined();
    const global = approveAll(first, { kind: 'global' }).map((d) => ({ ...d, until: '2026-12-31' }));
    expect(byName(judge(ROOT, global, { product: 'x', owner: 'partner:globex' }).packages).foo!.status).toBe('cleared');
    expect(byName(judge(ROOT, global, CTX, '2027-01-01').packages).foo!.decision).toMatchObject({ mismatch: 'expired' });
    // A product decision with a stale range does not hide a global one that applies.
    const stale = approveAll(first).map((d) => ({ ...d, id: `p-${d.id}`, versions: '<< 0.1' }));
    expect(byName(judge(ROOT, [...stale, ...global]).packages).foo!.status).toBe('cleared');
  });
});

describe('the kind reads the decisions file, and its cache key follows it', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTmpDir('sborka-lic-decisions-');
  });
  afterAll(() => removeDir(dir));

  it('changes the host digest when a decision is made, and again when it is revoked', async () => {
    const config = testConfig(dir);
    const step = { id: 'verify-licenses', kind: 'verify-licenses', needs: [], cacheable: true, params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', policy } } as unknown as KindContext['step'];
    const kind = verifyLicensesKind('debian', { verificator: null, now: () => new Date('2026-12-01T00:00:00Z') });
    const none = await kind.hostInputs!(step, config);
    const db = openApiDb(config.stateDir);
    const admin = { name: 'ivan', role: 'admin' };
    const [d] = recordDecisions(db, admin, approveAll(judge(ROOT, []).packages).slice(0, 1), { stateDir: config.stateDir });
    const one = await kind.hostInputs!(step, config);
    const file = DecisionFile.parse(JSON.parse(fs.readFileSync(path.join(config.stateDir, 'license-decisions.json'), 'utf8')));
    expect(file.decisions.map((x) => x.package)).toEqual(['foo']);
    const { revokeDecision } = await import('../../service/api/decisions');
    revokeDecision(db, admin, d!.id, config.stateDir);
    const revoked = await kind.hostInputs!(step, config);
    db.close();
    expect(none).toBeUndefined();
    expect(one).toMatch(/^[0-9a-f]{64}$/);
    expect(revoked).toBeUndefined();
  });
});

describe('sborka license decisions', () => {
  let dir: string;
  const saved = process.env.SBORKA_STATE_DIR;
  beforeAll(() => {
    dir = makeTmpDir('sborka-lic-cli-');
    process.env.SBORKA_STATE_DIR = path.join(dir, 'state');
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.SBORKA_STATE_DIR;
    else process.env.SBORKA_STATE_DIR = saved;
    removeDir(dir);
  });

  async function cli(...args: string[]): Promise<{ code: number; out: string }> {
    const stdout = new PassThrough();
    const chunks: string[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c.toString()));
    const code = await licenseCommand.run(args, { stdout, stderr: new PassThrough(), cwd: dir });
    return { code, out: chunks.join('') };
  }

  it('imports a file, lists, exports the same decisions back, and revokes', async () => {
    const file: DecisionFile = { sborkaLicenseDecisions: 1, decisions: approveAll(judge(ROOT, []).packages) };
    fs.writeFileSync(path.join(dir, 'decisions.json'), JSON.stringify(file));
    expect(await cli('decisions', 'import', 'decisions.json')).toEqual({ code: 0, out: 'imported decisions.json: 2 recorded, 0 unchanged\n' });
    expect((await cli('decisions', 'import', 'decisions.json')).out).toBe('imported decisions.json: 0 recorded, 2 unchanged\n');
    const listed = (await cli('decisions', 'list')).out.trim().split('\n');
    expect(listed).toEqual([
      'd1  baz = 3.1-2  LicenseRef-unknown-Odd-License  [community/debian-minimal]  cleared by ivan on 2026-11-30: read the text: permissive (no expiry)',
      'd0  foo = 1.0-1  LicenseRef-unknown-Frobnicate  [community/debian-minimal]  cleared by ivan on 2026-11-30: read the text: permissive (no expiry)',
    ]);
    expect((await cli('decisions', 'export', '--output', 'out.json')).code).toBe(0);
    expect(DecisionFile.parse(JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8'))).decisions.sort((a, b) => a.id.localeCompare(b.id))).toEqual(file.decisions);
    expect((await cli('decisions', 'revoke', 'd0')).out).toBe('revoked d0 (foo, community/debian-minimal)\n');
    const db = openApiDb(process.env.SBORKA_STATE_DIR!);
    expect(listDecisions(db, 'admin').map((d) => d.id)).toEqual(['d1']);
    expect(db.prepare("SELECT method, target FROM audit WHERE route = 'license-decisions' ORDER BY id").all()).toEqual([
      { method: 'DECIDE', target: 'd0' }, { method: 'DECIDE', target: 'd1' }, { method: 'REVOKE', target: 'd0' },
    ]);
    db.close();
    // The published file follows.
    expect(JSON.parse(fs.readFileSync(path.join(process.env.SBORKA_STATE_DIR!, 'license-decisions.json'), 'utf8')).decisions.map((d: Decision) => d.id)).toEqual(['d1']);
  });

  it('refuses a bad file with where and why', async () => {
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ sborkaLicenseDecisions: 1, decisions: [{ id: 'x', package: 'p', versions: 'newer than 1', expression: 'MIT', scope: { kind: 'global' }, by: 'a', reason: 'r', at: 'now' }] }));
    await expect(cli('decisions', 'import', 'bad.json')).rejects.toThrow(/bad\.json: decisions\.0\.versions: "newer than 1": expected <<, <=, =, >= or >>/);
  });
});
