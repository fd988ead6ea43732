// License decisions through a real `sborka serve` (embedded Temporal, in-process workers,
// the API on a loopback port): a build whose license step asks about a package waits, the
// maintainer's approval records a decision, the next build of the same product asks
// nobody, and a version outside the decision's range asks again with the old decision
// shown. Then the scopes: partner A's decisions are invisible to partner B, a partner
// cannot make a global one; and export → import gives back the same decisions.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LicenseReport } from '../../licenses/report';
import { ApiEnv } from './helpers';

jest.setTimeout(300_000);

let env: ApiEnv;
beforeAll(async () => {
  env = await ApiEnv.start({ rateLimit: { perSecond: 1000, burst: 1000 }, dispatchWebhooks: false });
});
afterAll(async () => {
  await env?.stop();
});

const PRODUCT = 'lic-demo';
const DEP5 = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n';

/** A plan whose first step makes a tiny Debian root (foo: an unknown license; bar: GPL-2+) and whose second judges it. */
function licensePlan(fooVersion: string) {
  const files: Record<string, string> = {
    'var/lib/dpkg/status': `Package: foo\nStatus: install ok installed\nVersion: ${fooVersion}\nArchitecture: amd64\n\nPackage: bar\nStatus: install ok installed\nVersion: 2.0-1\nArchitecture: all\n`,
    'usr/share/doc/foo/copyright': `${DEP5}Files: *\nCopyright: 2020 Foo\nLicense: Frobnicate-1\n Anyone may frobnicate it.\n`,
    'usr/share/doc/bar/copyright': `${DEP5}Files: *\nCopyright: 2020 Bar\nLicense: GPL-2+\n`,
  };
  const script = `const fs = require('fs'), path = require('path'), os = require('os'), cp = require('child_process');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'root-'));
    for (const [rel, text] of Object.entries(${JSON.stringify(files)})) { fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true }); fs.writeFileSync(path.join(dir, rel), text); }
    cp.execFileSync('tar', ['-cf', path.join(process.env.SBORKA_OUTPUT_DIR, 'rootfs.tar'), '-C', dir, '.']);`;
  return {
    version: 1,
    product: PRODUCT,
    toolchain: { name: 'debian', version: '1' },
    variants: [{
      id: `${PRODUCT}.x86_64`, product: PRODUCT, arch: 'x86_64', taskQueue: 'build-x86_64', artifacts: [],
      steps: [
        { id: 'make-root', kind: 'exec', params: { argv: [process.execPath, '-e', script] } },
        { id: 'verify-licenses', kind: 'verify-licenses', needs: ['make-root'], params: {
          toolchain: 'debian', branch: 'bookworm', arch: 'x86_64',
          policy: { name: 'test-policy', allow: ['GPL-2.0-or-later'], review: [], deny: [], unknown: 'review' },
        } },
      ],
    }],
    owner: { kind: 'community' },
  };
}

async function start(plan: unknown): Promise<string> {
  const r = await env.req('POST', '/api/builds', { body: { plan } });
  expect(r.status).toBe(201);
  return r.json.buildId as string;
}

/** Resolves 'waiting' once the build waits for a review, or 'finished' with its state. */
async function outcome(id: string): Promise<{ state: string; detail: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return env.waitFor(`build ${id} to wait or finish`, async () => {
    const r = await env.req('GET', `/api/builds/${id}`);
    if (r.status !== 200) return undefined;
    if (r.json.variants[0]?.state === 'waiting') return { state: 'waiting', detail: r.json };
    return r.json.product.state === 'running' ? undefined : { state: r.json.product.state, detail: r.json };
  });
}

function licenseStep(detail: { variants: Array<{ steps: Array<{ id: string; outputDir?: string }> }> }): LicenseReport {
  const step = detail.variants[0]!.steps.find((s) => s.id === 'verify-licenses')!;
  return JSON.parse(fs.readFileSync(path.join(step.outputDir!, 'license-report.json'), 'utf8')) as LicenseReport;
}

describe('decisions remembered across builds', () => {
  test('first build asks, the approval is recorded, the second asks nobody, a new version asks again', async () => {
    const first = await start(licensePlan('1.0-1'));
    const asked = await outcome(first);
    expect(asked.state).toBe('waiting');
    expect(asked.detail.variants[0].waiting[0].reason).toMatch(/1 package\(s\) need review \(foo\)/);

    const approve = await env.req('POST', `/api/builds/${first}/approve`, { as: 'maintainer', body: { reason: 'Frobnicate-1 is a permissive license' } });
    expect(approve.status).toBe(200);
    expect(approve.json).toMatchObject({ action: 'approve', decisions: 1 });
    expect((await env.finished(first)).product.state).toBe('succeeded');

    const listed = await env.req('GET', '/api/license-decisions', { as: 'maintainer' });
    expect(listed.json.decisions).toEqual([expect.objectContaining({
      package: 'foo', versions: '= 1.0-1', expression: 'LicenseRef-unknown-Frobnicate-1', by: 'maintainer-test', buildId: first,
      scope: { kind: 'product', owner: 'community', product: PRODUCT }, reason: expect.stringContaining('Frobnicate-1 is a permissive license'),
    })]);
    // The published file the license step reads holds it.
    const published = JSON.parse(fs.readFileSync(path.join(env.sborka.config.stateDir, 'license-decisions.json'), 'utf8'));
    expect(published.decisions.map((d: { package: string }) => d.package)).toEqual(['foo']);
    // ... and the audit trail names who decided.
    expect(env.db.prepare("SELECT who FROM audit WHERE method = 'DECIDE' AND target = ?").get(listed.json.decisions[0].id)).toEqual({ who: 'maintainer-test' });

    // Same root, same product: the cached review must not be reused; nobody is asked.
    const second = await start(licensePlan('1.0-1'));
    const quiet = await outcome(second);
    expect(quiet.state).toBe('succeeded');
    const report = licenseStep(quiet.detail);
    expect(report.verdict).toBe('pass');
    expect(report.totals.byStatus).toMatchObject({ review: 0, cleared: 1, allow: 1 });
    const md = fs.readFileSync(path.join(quiet.detail.variants[0].steps.find((s: { id: string }) => s.id === 'verify-licenses').outputDir, 'license-report.md'), 'utf8');
    expect(md).toMatch(/cleared by maintainer-test on \d{4}-\d{2}-\d{2}: Frobnicate-1 is a permissive license/);

    // foo 1.1-1 is outside "= 1.0-1": asked again, with the old decision beside it.
    const third = await start(licensePlan('1.1-1'));
    const again = await outcome(third);
    expect(again.state).toBe('waiting');
    const foo = licenseStep(again.detail).violations.find((v) => v.package.name === 'foo')!;
    expect(foo.status).toBe('review');
    expect(foo.decision).toMatchObject({ mismatch: 'version outside the range', decision: { versions: '= 1.0-1', by: 'maintainer-test' } });
    await env.req('POST', `/api/builds/${third}/abort`, { as: 'maintainer', body: {} });
  });
});

describe('scopes and roles', () => {
  const decision = (scope: unknown, pkg = 'scoped-pkg') => ({ decisions: [{ package: pkg, versions: '>= 1.0, << 2', expression: 'LicenseRef-unknown-x', scope, reason: 'checked' }] });

  test("partner A's decisions are invisible to B, and a partner cannot make a global one", async () => {
    const mine = await env.req('POST', '/api/license-decisions', { as: 'partner:acme', body: decision({ kind: 'owner', owner: 'partner:acme' }) });
    expect(mine.status).toBe(201);
    const id = mine.json.decisions[0].id as string;
    expect(mine.json.decisions[0]).toMatchObject({ by: 'partner:acme-test', scope: { kind: 'owner', owner: 'partner:acme' } });

    const acmeSees = (await env.req('GET', '/api/license-decisions', { as: 'partner:acme' })).json.decisions.map((d: { id: string }) => d.id);
    const globexSees = (await env.req('GET', '/api/license-decisions', { as: 'partner:globex' })).json.decisions.map((d: { id: string }) => d.id);
    expect(acmeSees).toContain(id);
    expect(globexSees).not.toContain(id);
    expect((await env.req('GET', '/api/license-decisions/export', { as: 'partner:globex' })).json.decisions.map((d: { id: string }) => d.id)).not.toContain(id);
    expect((await env.req('DELETE', `/api/license-decisions/${id}`, { as: 'partner:globex' })).status).toBe(404);
    // Acme sees none of the distribution's (product-scoped, community) decisions either.
    expect((await env.req('GET', '/api/license-decisions', { as: 'partner:acme' })).json.decisions.every((d: { scope: { owner?: string } }) => d.scope.owner === 'partner:acme')).toBe(true);

    const global = await env.req('POST', '/api/license-decisions', { as: 'partner:acme', body: decision({ kind: 'global' }) });
    expect(global.status).toBe(403);
    expect(global.json.message).toMatch(/only admins and maintainers make global/);
    expect((await env.req('POST', '/api/license-decisions', { as: 'partner:acme', body: decision({ kind: 'owner', owner: 'partner:globex' }) })).status).toBe(403);
    expect((await env.req('POST', '/api/license-decisions/import', { as: 'partner:acme', body: { sborkaLicenseDecisions: 1, decisions: [{ ...decision({ kind: 'global' }).decisions[0], id: 'x1', by: 'me', at: '2026-01-01T00:00:00Z' }] } })).status).toBe(403);
    expect((await env.req('POST', '/api/license-decisions', { as: 'community', body: decision({ kind: 'owner', owner: 'community' }) })).status).toBe(403);
    expect((await env.req('POST', '/api/license-decisions', { as: 'maintainer', body: decision({ kind: 'global' }, 'global-pkg') })).status).toBe(201);
    // A bad range is refused where it is.
    const bad = await env.req('POST', '/api/license-decisions', { as: 'maintainer', body: { decisions: [{ ...decision({ kind: 'global' }).decisions[0], versions: '~> 1' }] } });
    expect(bad.status).toBe(400);
    expect(bad.json.issues[0].path).toBe('body.decisions[0].versions');

    expect((await env.req('DELETE', `/api/license-decisions/${id}`, { as: 'partner:acme' })).json.decision).toMatchObject({ id, revokedBy: 'partner:acme-test' });
    expect((await env.req('GET', '/api/license-decisions', { as: 'partner:acme' })).json.decisions.map((d: { id: string }) => d.id)).not.toContain(id);
  });

  test('export, then import into an emptied database, gives back the same decisions', async () => {
    const exported = (await env.req('GET', '/api/license-decisions/export', { as: 'admin' })).json;
    expect(exported.sborkaLicenseDecisions).toBe(1);
    expect(exported.decisions.length).toBeGreaterThan(0);
    for (const d of exported.decisions) expect((await env.req('DELETE', `/api/license-decisions/${d.id}`, { as: 'admin' })).status).toBe(200);
    expect((await env.req('GET', '/api/license-decisions/export', { as: 'admin' })).json.decisions).toEqual([]);
    const imported = await env.req('POST', '/api/license-decisions/import', { as: 'admin', body: exported });
    expect(imported.json).toEqual({ recorded: exported.decisions.length, unchanged: 0 });
    expect((await env.req('GET', '/api/license-decisions/export', { as: 'admin' })).json).toEqual(exported);
    // The same file again changes nothing.
    expect((await env.req('POST', '/api/license-decisions/import', { as: 'admin', body: exported })).json).toEqual({ recorded: 0, unchanged: exported.decisions.length });
  });
});
