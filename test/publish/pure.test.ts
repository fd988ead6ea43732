import * as fs from 'node:fs';
import * as path from 'node:path';
import { tagFromRefName } from '../../activities/publish/kind';
import { preflightPublish } from '../../activities/publish/preflight';
import { parsePlan, type PlanInput } from '../../plan/plan';
import { PublishConfig } from '../../publish/config-schema';
import { buildIndex, checkRegistryReference, parseReference, sha256Digest } from '../../publish/oci';
import { selectForRemoval } from '../../publish/retention';
import { formatSums, parseSums } from '../../publish/sums';
import { resolveFilesTarget } from '../../publish/targets';
import { checkFilesTemplate, confineLexically, ConfinementError, expandTemplate, staticPrefix, versionSegmentIndex } from '../../publish/template';
import { makeTmpDir, removeDir } from '../activities/helpers';

describe('templates and confinement', () => {
  it('accepts ordinary templates and names what is wrong with escaping ones (the check-time rule)', () => {
    expect(checkFilesTemplate('/srv/images/{product}/{branch}/{date}/{arch}')).toEqual([]);
    expect(checkFilesTemplate('/srv/images/../etc/{date}')).toEqual(['must not contain ".." segments']);
    expect(checkFilesTemplate('srv/{date}')).toContain('must be an absolute path');
    expect(checkFilesTemplate('/srv/{nope}')[0]).toMatch(/unknown placeholder \{nope\}/);
    expect(checkFilesTemplate('/srv/{product}/{version}', { product: 'x', version: '../../etc' })).toEqual(['{version} is "../../etc", which is not a single safe path segment']);
    expect(checkFilesTemplate('/srv/{product}/{version}', { product: 'x', version: '..' })[0]).toMatch(/not a single safe path segment/);
  });

  it('refuses values that are not one safe segment at expansion, and paths outside the root', () => {
    expect(expandTemplate('/srv/{product}/{date}', { product: 'p', date: '20250101' })).toBe('/srv/p/20250101');
    expect(() => expandTemplate('/srv/{date}', { date: '../x' })).toThrow(ConfinementError);
    expect(() => expandTemplate('/srv/{date}', { date: '.hidden' })).toThrow(ConfinementError);
    expect(() => confineLexically('/srv/images', '/srv/images/../etc')).toThrow(ConfinementError);
    expect(() => confineLexically('/srv/images', '/srv/images')).toThrow(/not below/);
    expect(() => confineLexically('/srv/images', '/srv/imagesX/a')).toThrow(/not below/);
    expect(confineLexically('/srv/images', '/srv/images/a/b')).toBe('a/b');
  });

  it('finds the root and the version segment', () => {
    expect(staticPrefix('/srv/images/debian/{product}/{date}/x86_64')).toBe('/srv/images/debian');
    expect(staticPrefix('/srv/images/debian-minimal/x86_64')).toBe('/srv/images/debian-minimal');
    expect(versionSegmentIndex('/srv/images/debian/{product}/{date}/x86_64', '/srv/images')).toBe(2);
    expect(versionSegmentIndex('/srv/images/p/x86_64', '/srv/images')).toBe(-1);
  });

  it('gives partners only the roots they were granted', () => {
    const config = PublishConfig.parse({ files: [{ root: '/srv/partners/acme', owners: ['partner:acme'] }] });
    expect(resolveFilesTarget('/srv/partners/acme/{date}/x86_64', config, { kind: 'partner', name: 'acme' }).root).toBe('/srv/partners/acme');
    expect(() => resolveFilesTarget('/srv/partners/acme/{date}/x86_64', config, { kind: 'partner', name: 'other' })).toThrow(/partner:other may not publish/);
    expect(() => resolveFilesTarget('/srv/images/{date}/x86_64', config, { kind: 'partner', name: 'acme' })).toThrow(/partners need an explicit grant/);
    expect(resolveFilesTarget('/srv/images/{date}/x86_64', config, { kind: 'community' }).root).toBe('/srv/images');
  });
});

describe('OCI helpers', () => {
  it('parses references and refuses bad ones', () => {
    expect(parseReference('registry.example.org/alt/regular-jeos')).toEqual({ registry: 'registry.example.org', repository: 'alt/regular-jeos' });
    expect(parseReference('127.0.0.1:5000/alt/x:p11')).toEqual({ registry: '127.0.0.1:5000', repository: 'alt/x', tag: 'p11' });
    expect(checkRegistryReference('registry.example.org/Alt/x')[0]).toMatch(/repository component "Alt"/);
    expect(checkRegistryReference('justaname')[0]).toMatch(/host\/repository/);
  });

  it('builds the same index bytes whatever order the arches come in', () => {
    const a = { arch: 'x86_64', digest: `sha256:${'a'.repeat(64)}`, size: 10, mediaType: 'application/vnd.oci.image.manifest.v1+json' };
    const b = { ...a, arch: 'aarch64', digest: `sha256:${'b'.repeat(64)}` };
    expect(sha256Digest(buildIndex([a, b]))).toBe(sha256Digest(buildIndex([b, a])));
    expect(JSON.parse(buildIndex([a, b]).toString()).manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(['arm64', 'amd64']);
  });

  it('derives the multi-arch tag from a per-arch tag', () => {
    expect(tagFromRefName('bookworm-x86_64', 'x86_64')).toBe('bookworm');
    expect(tagFromRefName('bookworm-amd64', 'x86_64')).toBe('bookworm');
    expect(tagFromRefName('aarch64-p11-1', 'aarch64')).toBe('p11-1');
    expect(tagFromRefName('x86_64', 'x86_64')).toBeUndefined();
    expect(tagFromRefName('p11', 'x86_64')).toBe('p11');
  });
});

describe('retention and sums', () => {
  const v = (name: string, day: number, buildId = name) => ({ name, buildId, publishedAt: new Date(Date.UTC(2025, 0, day)).toISOString() });

  it('keeps the newest N, a promoted build and what latest names', () => {
    const versions = [v('d1', 1), v('d2', 2), v('d3', 3), v('d4', 4), v('d5', 5)];
    expect(selectForRemoval(versions, 2).map((x) => x.name)).toEqual(['d3', 'd2', 'd1']);
    expect(selectForRemoval(versions, 2, { promotedBuildIds: new Set(['d2']) }).map((x) => x.name)).toEqual(['d3', 'd1']);
    expect(selectForRemoval(versions, 2, { latest: 'd1' }).map((x) => x.name)).toEqual(['d3', 'd2']);
    expect(() => selectForRemoval(versions, 0)).toThrow(/at least one/);
  });

  it('writes SHA256SUMS as sha256sum does, sorted', () => {
    const text = formatSums([{ name: 'b.img', sha256: 'b'.repeat(64) }, { name: 'a.img', sha256: 'a'.repeat(64) }]);
    expect(text).toBe(`${'a'.repeat(64)}  a.img\n${'b'.repeat(64)}  b.img\n`);
    expect(parseSums(text)).toHaveLength(2);
    expect(() => formatSums([{ name: 'x\ny', sha256: 'a'.repeat(64) }])).toThrow();
  });
});

describe('files preflight', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTmpDir('sborka-preflight-');
  });
  afterAll(() => removeDir(dir));

  const plan = (template: string, owner: PlanInput['owner'] = { kind: 'community' }) => parsePlan({
    version: 1, product: 'p', owner, toolchain: { name: 'debian', version: '1' },
    variants: [{
      id: 'p.x86_64', product: 'p', arch: 'x86_64', taskQueue: 'build-x86_64',
      steps: [
        { id: 'build-img', kind: 'noop', params: {} },
        { id: 'publish-files', kind: 'publish', needs: ['build-img'], params: { publish: { target: 'files', path: template }, product: 'p', arch: 'x86_64', artifacts: ['img'] } },
      ],
    }],
  } satisfies PlanInput);

  it('passes a writable root and names the reason of every failing target', async () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const config = PublishConfig.parse({ files: [{ root }], signing: { unsigned: true } });
    expect(await preflightPublish(plan(`${root}/p/{date}/x86_64`), { publishConfig: config })).toEqual([expect.objectContaining({ ok: true })]);
    const [missing] = await preflightPublish(plan(`${dir}/nowhere/{date}/x86_64`), { publishConfig: config });
    expect(missing).toMatchObject({ ok: false, reason: expect.stringContaining('does not exist') });
    const [partner] = await preflightPublish(plan(`${root}/p/{date}/x86_64`, { kind: 'partner', name: 'acme' }), { publishConfig: config });
    expect(partner).toMatchObject({ ok: false, reason: expect.stringContaining('partner:acme may not publish') });
    const [unsigned] = await preflightPublish(plan(`${root}/p/{date}/x86_64`), { publishConfig: PublishConfig.parse({ files: [{ root }] }) });
    expect(unsigned).toMatchObject({ ok: false, reason: expect.stringContaining('no signing key') });
    fs.chmodSync(root, 0o500);
    try {
      if (process.getuid?.() !== 0) {
        const [ro] = await preflightPublish(plan(`${root}/q/{date}/x86_64`), { publishConfig: config });
        expect(ro).toMatchObject({ ok: false, reason: expect.stringContaining('not writable') });
      }
    } finally {
      fs.chmodSync(root, 0o755);
    }
    fs.symlinkSync('/etc', path.join(root, 'etc-link'));
    const [escape] = await preflightPublish(plan(`${root}/etc-link/{date}/x86_64`), { publishConfig: config });
    expect(escape).toMatchObject({ ok: false, reason: expect.stringContaining('outside the target root') });
  });
});
