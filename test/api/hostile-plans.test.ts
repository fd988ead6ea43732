// A hostile partner against `sborka serve` (embedded Temporal, the API on loopback): every
// plan that names a host file, leaves its directory, or asks for host directories or the host
// sandbox is a 400 that names the field, and nothing starts (the build list shows only the
// one build the resume case makes on purpose).
import * as path from 'node:path';
import { ApiEnv, type TestRole } from './helpers';

let env: ApiEnv;
const ACME = { kind: 'partner', name: 'acme' };
const target = { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64' };

beforeAll(async () => {
  env = await ApiEnv.start();
}, 120_000);
afterAll(async () => {
  await env?.stop();
});

function debianPlan(product: string, steps: unknown[], extra: Record<string, unknown> = {}) {
  return {
    version: 1, product, owner: ACME, toolchain: { name: 'debian', version: '1' },
    variants: [{ id: `${product}-x86_64`, product, arch: 'x86_64', taskQueue: 'build-x86_64', steps, artifacts: [] }],
    ...extra,
  };
}
const configure = (params: Record<string, unknown>) => ({ id: 'configure', kind: 'configure', params: { ...target, settings: {}, ...params } });
const at = (rest: string) => `body.plan.variants[0].steps[0].params.${rest}`;

async function refused(plan: unknown, field: string, as: TestRole = 'partner:acme', url = '/api/builds'): Promise<void> {
  const r = await env.req('POST', url, { as, body: { plan } });
  expect({ status: r.status, paths: (r.json?.issues ?? []).map((i: { path: string }) => i.path) }).toEqual({ status: 400, paths: expect.arrayContaining([field]) });
}

describe('posted plans that reach for host files', () => {
  const state = () => env.sborka.config.stateDir;
  const cases: Array<[string, () => unknown, string]> = [
    ['an absolute overlay (/etc/ssh)', () => debianPlan('h-ssh', [configure({ overlays: [{ src: '/etc/ssh', dest: '/etc/ssh' }] })]), at('overlays[0].src')],
    ['an absolute script file (/etc/shadow)', () => debianPlan('h-shadow', [configure({ scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file: '/etc/shadow' }] })]), at('scripts[0].file')],
    ['a climbing overlay (../../..)', () => debianPlan('h-dots', [configure({ overlays: [{ src: '../../..', dest: '/x' }] })]), at('overlays[0].src')],
    ['dots after a name (files/../../etc)', () => debianPlan('h-dots2', [configure({ overlays: [{ src: 'files/../../etc', dest: '/x' }] })]), at('overlays[0].src')],
    ['a percent-encoded climb (%2e%2e/%2e%2e/etc/shadow)', () => debianPlan('h-pct', [configure({ scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file: '%2e%2e/%2e%2e/etc/shadow' }] })]), at('scripts[0].file')],
    ['a backslash climb (..\\..\\etc)', () => debianPlan('h-bs', [configure({ overlays: [{ src: '..\\..\\etc', dest: '/x' }] })]), at('overlays[0].src')],
    ['a NUL byte', () => debianPlan('h-nul', [configure({ overlays: [{ src: 'files\u0000/etc', dest: '/x' }] })]), at('overlays[0].src')],
    ['an empty segment', () => debianPlan('h-empty', [configure({ overlays: [{ src: 'files//x', dest: '/x' }] })]), at('overlays[0].src')],
    ['the state directory (signing keys)', () => debianPlan('h-state', [configure({ overlays: [{ src: path.join(state(), 'gnupg'), dest: '/keys' }] })]), at('overlays[0].src')],
    ['resolve sources ["/root"]', () => debianPlan('h-root', [{ id: 'resolve', kind: 'resolve', cacheable: false, params: { ...target, packages: ['bash'], sources: ['/root'] } }]), at('sources[0]')],
    ['a repository key outside', () => debianPlan('h-key', [{ id: 'resolve', kind: 'resolve', cacheable: false, params: { ...target, packages: ['bash'], repos: [{ name: 'x', url: 'http://127.0.0.1:9/', key: '/etc/ssh/ssh_host_ed25519_key' }] } }]), at('repos[0].key')],
    ['an image file name ../../x', () => debianPlan('h-img', [{ id: 'build', kind: 'build', params: { ...target, output: { format: 'tar' }, fileName: '../../x' } }]), at('fileName')],
    ['an image file name in a subdirectory', () => debianPlan('h-img2', [{ id: 'build', kind: 'build', params: { ...target, output: { format: 'tar' }, fileName: 'sub/x.tar' } }]), at('fileName')],
    ['a step recipeDir (the state directory)', () => debianPlan('h-rdir', [configure({ overlays: [{ src: 'gnupg', dest: '/keys' }], recipeDir: state() })]), at('recipeDir')],
    ['a plan recipeDir (/)', () => debianPlan('h-pdir', [configure({ overlays: [{ src: 'etc/ssh', dest: '/x' }] })], { recipeDir: '/' }), 'body.plan.recipeDir'],
    ['the host sandbox for its scripts', () => debianPlan('h-iso', [configure({ isolation: 'host-sandbox', scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: 'id' }] })]), at('isolation')],
  ];
  it.each(cases)('%s: 400 naming the field', async (_what, plan, field) => {
    await refused(plan(), field);
  });

  it('an artifact path that climbs out of its step: 400', async () => {
    const plan = debianPlan('h-art', [{ id: 'n', kind: 'noop', params: {} }]);
    (plan.variants[0] as { artifacts: unknown[] }).artifacts = [{ name: 'x', step: 'n', path: '../../../etc/passwd', format: 'file' }];
    await refused(plan, 'body.plan.variants[0].artifacts[0].path');
  });

  it('the distribution\'s people are held to the same paths', async () => {
    await refused({ ...debianPlan('h-maint', [configure({ overlays: [{ src: '/etc/ssh', dest: '/etc/ssh' }] })]), owner: { kind: 'maintainer', team: 'core' } }, at('overlays[0].src'), 'maintainer');
  });

  it('resume with a hostile plan: 400 naming the field, the build stays as it was', async () => {
    const ok = await env.req('POST', '/api/builds', { as: 'partner:acme', body: { plan: debianPlan('h-resume', [{ id: 'n', kind: 'noop', params: {} }]) } });
    expect(ok.status).toBe(201);
    await env.finished(ok.json.buildId, 'partner:acme');
    const hostile = debianPlan('h-resume', [configure({ overlays: [{ src: '/etc/ssh', dest: '/etc/ssh' }] })]);
    await refused(hostile, at('overlays[0].src'), 'partner:acme', `/api/builds/${ok.json.buildId}/resume`);
    const sneaky = debianPlan('h-resume', [configure({ overlays: [{ src: 'gnupg', dest: '/keys' }], recipeDir: env.sborka.config.stateDir })]);
    await refused(sneaky, at('recipeDir'), 'partner:acme', `/api/builds/${ok.json.buildId}/resume`);
  });

  it('nothing was started but the one build the resume test made', async () => {
    const r = await env.req('GET', '/api/builds', { as: 'admin' });
    expect(r.status).toBe(200);
    expect([...new Set(r.json.builds.map((b: { product: string }) => b.product))]).toEqual(['h-resume']);
  });
});

describe('percent-encoded climbs in URLs', () => {
  it.each([
    ['POST', '/api/builds/%2e%2e%2f%2e%2e%2fetc/resume'],
    ['GET', '/api/builds/%2e%2e'],
    ['GET', '/api/recipes/%2e%2e%2fgnupg'],
    ['GET', '/api/recipes/..%2f..%2f.state%2fapi.db'],
  ])('%s %s: refused, nothing of the host comes back', async (method, url) => {
    const r = await env.req(method, url, { as: 'partner:acme', ...(method === 'POST' ? { body: {} } : {}) });
    expect([400, 404]).toContain(r.status);
    expect(r.text).not.toMatch(/SQLite format|BEGIN PGP|root:/);
  });
});

describe('a partner\'s plan that passes', () => {
  it('gets the partner\'s recipe directory and a VM for its scripts, set by the service', async () => {
    const plan = debianPlan('h-fine', [configure({ overlays: [{ src: 'files/etc', dest: '/etc' }], scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: 'true' }] })]);
    const { checkPostedPlan } = await import('../../service/api/routes/builds');
    const { RecipeStore } = await import('../../service/api/recipes');
    const recipes = new RecipeStore(env.sborka.config.stateDir, path.join(env.sborka.config.projectRoot, 'products'));
    const checked = checkPostedPlan({ name: 'acme', role: 'partner:acme' } as never, plan as never, recipes);
    const params = checked.variants[0]!.steps[0]!.params as { recipeDir?: string; isolation?: string };
    expect(params.recipeDir).toBe(path.join(path.resolve(env.sborka.config.stateDir), 'recipes', 'partner-acme'));
    expect(params.isolation).toBe('vm');
  });
});
