// Approving a license review on a farm: the review's step runs on "host A" (its own state,
// store cache and logs, the build-x86_64 queue), the API and the control worker on "host B"
// (other directories). Nothing is shared but Temporal and the remote store, a real
// docker-registry on 127.0.0.1. B's approval records the decisions from the report in the
// store, never from A's disk; a report whose bytes fail their digest records none (the
// approval stands, a warning says why); a tenant cannot approve a build it cannot see.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { StepStore } from '../../activities/store';
import type { Config } from '../../config/config';
import { readSide } from '../../service/changes';
import { eventually } from '../helpers/sborka-env';
import { startFarm, type Farm } from './farm-fixture';

jest.setTimeout(300_000);

let farm: Farm;
let regDir: string;
let client: Client;
let hostA: Config;
let hostB: Config;
const warnings: string[] = [];
let firstBuild: string;

beforeAll(async () => {
  // B's API logs at warn into the test: the warning of an approval without decisions.
  const apiLogger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _enc, done) { warnings.push(chunk.toString()); done(); } }));
  farm = await startFarm('sborka-farm-approve', { hosts: 2, roles: ['admin', 'maintainer', 'partner:acme', 'partner:globex'], apiLogger });
  ({ regDir, client } = farm);
  [hostA, hostB] = farm.hosts as [Config, Config];
});
afterAll(() => farm?.stop());

const req = (url: string, as: string, method = 'GET', body?: unknown) => farm.req(url, as, method, body);

const DEP5 = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n';

/** A tiny Debian root (foo: an unknown license; bar: GPL-2+) and the license step that judges it. */
function licensePlan(product: string, fooVersion: string, owner: unknown = { kind: 'community' }) {
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
    version: 1, product, toolchain: { name: 'debian', version: '1' }, owner,
    variants: [{
      id: `${product}.x86_64`, product, arch: 'x86_64', taskQueue: 'build-x86_64',
      artifacts: [{ name: 'license-report', step: 'verify-licenses', path: 'license-report.json', format: 'report' }],
      steps: [
        { id: 'make-root', kind: 'exec', params: { argv: [process.execPath, '-e', script] } },
        { id: 'verify-licenses', kind: 'verify-licenses', needs: ['make-root'], params: {
          toolchain: 'debian', branch: 'bookworm', arch: 'x86_64',
          policy: { name: 'test-policy', allow: ['GPL-2.0-or-later'], review: [], deny: [], unknown: 'review' },
        } },
      ],
    }],
  };
}

/** Starts the build (as an admin: exec steps) and waits until its license step waits for a review. */
async function waitingReview(plan: unknown): Promise<{ buildId: string; step: { key: string; outputDir: string } }> {
  const r = await req('/api/builds', 'admin', 'POST', { plan });
  expect(r.status).toBe(201);
  const buildId = r.json.buildId as string;
  const detail = await eventually(`build ${buildId} to wait for a review`, async () => {
    const d = await req(`/api/builds/${buildId}`, 'admin');
    if (d.status === 200 && d.json.product.state !== 'running') throw new Error(`build ${buildId} ended ${d.json.product.state}`);
    return d.status === 200 && d.json.variants[0]?.state === 'waiting' ? d.json : undefined;
  }, 240_000);
  return { buildId, step: detail.variants[0].steps.find((s: { id: string }) => s.id === 'verify-licenses') };
}

async function finished(id: string) {
  return eventually(`build ${id} to finish`, async () => {
    const r = await req(`/api/builds/${id}`, 'admin');
    return r.status === 200 && r.json.product.state !== 'running' ? r.json : undefined;
  }, 240_000);
}

const decisionsOf = async (buildId: string) => (await req('/api/license-decisions', 'admin')).json.decisions.filter((d: { buildId?: string }) => d.buildId === buildId);

/** The report's entry on host A, where the step ran (the test may look; B never does). */
async function reportOnA(key: string, owner?: string) {
  const a = new StepStore(hostA.storeDir);
  const entry = await (owner ? a.forTenant(owner) : a).lookup(key, { touch: false });
  const file = entry!.manifest.outputs.files.find((f) => f.path === 'license-report.json')!;
  return { file: path.join(entry!.outputsDir, file.path), sha256: file.sha256 };
}

describe('an approval on host B for a review that ran on host A', () => {
  it('records one decision per reviewed package from the report in the store, not from A\'s disk', async () => {
    const { buildId, step } = await waitingReview(licensePlan('farm-lic', '1.0-1'));
    firstBuild = buildId;
    expect(step.outputDir.startsWith(hostA.storeDir)).toBe(true);
    // A's copy now names another package: B must not read it (it cannot on a farm).
    const onA = await reportOnA(step.key);
    fs.chmodSync(onA.file, 0o644);
    fs.writeFileSync(onA.file, fs.readFileSync(onA.file, 'utf8').replace(/"name": "foo"/g, '"name": "zzz"'));
    expect(fs.existsSync(path.join(hostB.storeDir, 'objects', step.key.slice(0, 2), step.key))).toBe(false);

    const approve = await req(`/api/builds/${buildId}/approve`, 'maintainer', 'POST', { reason: 'Frobnicate-1 is permissive' });
    expect(approve.status).toBe(200);
    expect(approve.json).toMatchObject({ action: 'approve', decisions: 1 });
    expect(await decisionsOf(buildId)).toEqual([expect.objectContaining({
      package: 'foo', versions: '= 1.0-1', scope: { kind: 'product', owner: 'community', product: 'farm-lic' }, by: 'maintainer-test',
    })]);
    // Read through B's own cache in front of the registry.
    expect(await new StepStore(hostB.storeDir).lookup(step.key, { touch: false })).toBeDefined();
    expect((await finished(buildId)).product.state).toBe('succeeded');
    // The license report route reads it through B's store too, never A's rewritten copy.
    const lic = await req(`/api/builds/${buildId}/licenses`, 'admin');
    expect(lic.json.variants[0]).toMatchObject({ variantId: 'farm-lic.x86_64', present: true });
    expect(JSON.stringify(lic.json.variants[0].report)).toContain('"foo"');
    expect(JSON.stringify(lic.json.variants[0].report)).not.toContain('zzz');
  });

  it('a report that fails its digest records no decision; the approval stands and a warning says why', async () => {
    const { buildId, step } = await waitingReview(licensePlan('farm-lic-bad', '2.0-1'));
    const { sha256 } = await reportOnA(step.key);
    const blob = path.join(regDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', sha256.slice(0, 2), sha256, 'data');
    const real = fs.readFileSync(blob, 'utf8');
    fs.writeFileSync(blob, real.replace('"foo"', '"fop"'));
    warnings.length = 0;

    const approve = await req(`/api/builds/${buildId}/approve`, 'maintainer', 'POST', { reason: 'checked by hand' });
    expect(approve.status).toBe(200);
    expect(approve.json).toMatchObject({ action: 'approve', decisions: 0 });
    expect(await decisionsOf(buildId)).toEqual([]);
    expect(warnings.join('')).toMatch(/approving without license decisions/);
    expect(await new StepStore(hostB.storeDir).lookup(step.key, { touch: false })).toBeUndefined();
    const done = await finished(buildId);
    expect(done.product.state).toBe('succeeded');
    expect(done.variants[0].steps.find((s: { id: string }) => s.id === 'verify-licenses').approval).toMatchObject({ reason: expect.stringContaining('checked by hand') });
  });

  it("another tenant cannot approve, nor record decisions for, a partner's build it cannot see", async () => {
    const { buildId } = await waitingReview(licensePlan('acme-lic', '3.0-1', { kind: 'partner', name: 'acme' }));
    const refused = await req(`/api/builds/${buildId}/approve`, 'partner:globex', 'POST', { reason: 'not mine' });
    expect(refused.status).toBe(404);
    expect(await decisionsOf(buildId)).toEqual([]);
    // The partner itself may not approve its own review either (admins and maintainers do).
    expect((await req(`/api/builds/${buildId}/approve`, 'partner:acme', 'POST', {})).status).toBe(403);
    expect(await decisionsOf(buildId)).toEqual([]);
    expect((await req(`/api/builds/${buildId}`, 'admin')).json.variants[0].state).toBe('waiting');

    const approve = await req(`/api/builds/${buildId}/approve`, 'maintainer', 'POST', { reason: 'acme asked' });
    expect(approve.json).toMatchObject({ decisions: 1 });
    expect(await decisionsOf(buildId)).toEqual([expect.objectContaining({ package: 'foo', scope: { kind: 'product', owner: 'partner:acme', product: 'acme-lic' } })]);
    expect((await finished(buildId)).product.state).toBe('succeeded');
  });

  it("B's diff reads the license report from the store too (sborka diff, GET …/changes)", async () => {
    const step = (await req(`/api/builds/${firstBuild}`, 'admin')).json.variants[0].steps.find((s: { id: string }) => s.id === 'verify-licenses');
    const onA = path.join(step.outputDir, 'license-report.json');
    fs.chmodSync(onA, 0o644);
    fs.writeFileSync(onA, fs.readFileSync(onA, 'utf8').replace(/"name": "foo"/g, '"name": "zzz"'));
    const side = await readSide(client, firstBuild, 'x86_64', hostB.storeDir, hostB);
    expect(side.licenseVerdict).toBe('review');
    expect(side.licenses?.map((l) => l.name).sort()).toEqual(['bar', 'foo']);
  });
});
