// The HTTP API against a real Temporal dev server and real workers: every endpoint's happy
// path, bad bodies, the authorization matrix, tenancy (partner A against partner B),
// tokens, audit, limits, schedules, live streams.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { tokenCommand } from '../../cli/commands/token';
import { apiDbPath } from '../../service/api/db';
import { createApiServer } from '../../service/api/server';
import { syncSchedules } from '../../service/schedules';
import { parsePlan } from '../../plan/plan';
import { x86Plan } from '../helpers/sborka-env';
import { ApiEnv, fragilePlan, ROLES, sseEvents, writerPlan, type TestRole } from './helpers';

jest.setTimeout(300_000);

let env: ApiEnv;
const ACME = { kind: 'partner', name: 'acme' };
const GLOBEX = { kind: 'partner', name: 'globex' };
let acmeBuild: string;
let globexBuild: string;
let publicBuild: string;

async function start(plan: unknown, as: TestRole = 'admin'): Promise<string> {
  const r = await env.req('POST', '/api/builds', { as, body: { plan } });
  expect(r.status).toBe(201);
  return r.json.buildId as string;
}

beforeAll(async () => {
  // The authorization matrix sets a webhook to a local port: loopback needs the admin allow-list.
  env = await ApiEnv.start({ rateLimit: { perSecond: 1000, burst: 1000 }, dispatchWebhooks: false, webhooks: { allowHosts: ['127.0.0.1'] } });
  [acmeBuild, globexBuild, publicBuild] = await Promise.all([
    start(writerPlan('acme-hello', ACME, 'acme\n')),
    start(writerPlan('globex-hello', GLOBEX, 'globex\n')),
    start(writerPlan('public-hello', { kind: 'community' }, 'public\n')),
  ]);
  for (const id of [acmeBuild, globexBuild, publicBuild]) expect((await env.finished(id)).product.state).toBe('succeeded');
});
afterAll(async () => {
  await env?.stop();
});

/** Reads a server-sent event stream until `until` says stop or it ends. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads are whatever the server sent
type Json = any;
async function readSse(url: string, as: TestRole, until: (event: string, data: Json) => boolean, timeoutMs = 60_000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const events: Array<{ event: string; data: Json }> = [];
  const res = await fetch(env.base + url, { headers: { authorization: `Bearer ${env.tokens[as]}` }, signal: ctl.signal });
  if (res.status !== 200) {
    clearTimeout(timer);
    return { status: res.status, events };
  }
  try {
    events.push(...(await sseEvents(res, until)));
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
  return { status: res.status, events };
}

describe('service', () => {
  test('/openapi.json is public and generated from the schemas', async () => {
    const r = await env.req('GET', '/openapi.json', { as: null });
    expect(r.status).toBe(200);
    expect(r.json.openapi).toBe('3.1.0');
    for (const p of ['/api/builds', '/api/builds/{id}', '/api/builds/{id}/retry', '/api/builds/{id}/approve', '/api/recipes/validate', '/api/builds/{id}/logs/{variant}/{step}/follow', '/api/schedules/{id}/trigger', '/api/webhooks/{owner}']) {
      expect(r.json.paths[p]).toBeDefined();
    }
    const schemas = r.json.components.schemas;
    expect(schemas.BuildDetail.properties.product.properties.state.enum).toContain('succeeded');
    expect(schemas.StartBuild.properties.plan).toBeDefined();
    expect(schemas.Validation.properties.diagnostics.items.properties.line).toBeDefined();
  });

  test('no token, a wrong token: 401; /api/me tells each role what it may do', async () => {
    expect((await env.req('GET', '/api/builds', { as: null })).status).toBe(401);
    expect((await env.req('GET', '/api/builds', { token: 'sborka_nope' })).status).toBe(401);
    expect((await env.req('GET', '/api/builds', { token: 'garbage' })).json.error).toBe('unauthorized');
    for (const role of ROLES) {
      const me = await env.req('GET', '/api/me', { as: role });
      expect(me.status).toBe(200);
      expect(me.json.role).toBe(role);
      expect(me.json.permissions.submit).toBe(role !== 'community');
      expect(me.json.permissions.approve).toBe(role === 'admin' || role === 'maintainer');
    }
  });
});

describe('builds', () => {
  test('a partner reads its own build: status, list with filters, logs, artifacts with checksums, downloads, no license report', async () => {
    const get = await env.req('GET', `/api/builds/${acmeBuild}`, { as: 'partner:acme' });
    expect(get.status).toBe(200);
    expect(get.json.product.owner).toBe('partner:acme');
    expect(get.json.variants[0].steps.map((s: { id: string; state: string }) => `${s.id}:${s.state}`)).toEqual(['write:succeeded', 'sums:succeeded']);
    expect(get.json.actions).toEqual([]); // succeeded: nothing to resume

    const list = await env.req('GET', '/api/builds?product=acme-hello&arch=x86_64&state=succeeded', { as: 'partner:acme' });
    expect(list.json.builds.map((b: { buildId: string }) => b.buildId)).toEqual([acmeBuild]);
    expect(list.json.builds[0]).toMatchObject({ owner: 'partner:acme', arches: ['x86_64'], state: 'succeeded', nightly: false });
    const since = new Date(Date.now() + 60_000).toISOString();
    expect((await env.req('GET', `/api/builds?since=${encodeURIComponent(since)}`, { as: 'partner:acme' })).json.builds).toEqual([]);

    const logs = await env.req('GET', `/api/builds/${acmeBuild}/logs`, { as: 'partner:acme' });
    expect(logs.json.logs.find((l: { step: string }) => l.step === 'write').size).toBeGreaterThan(0);
    const variant = get.json.variants[0].variantId;
    const tail = await env.req('GET', `/api/builds/${acmeBuild}/logs/${variant}/write?tail=5`, { as: 'partner:acme' });
    expect(tail.status).toBe(200);
    expect(tail.text).toMatch(/wrote hello\.txt/);
    expect(Number(tail.headers.get('x-log-size'))).toBeGreaterThan(0);

    const arts = await env.req('GET', `/api/builds/${acmeBuild}/artifacts`, { as: 'partner:acme' });
    const hello = arts.json.artifacts.find((a: { name: string }) => a.name === 'hello');
    expect(hello).toMatchObject({ available: true, size: 5, sha256: createHash('sha256').update('acme\n').digest('hex') });
    const file = await env.req('GET', hello.url, { as: 'partner:acme' });
    expect(file.status).toBe(200);
    expect(file.text).toBe('acme\n');
    expect(file.headers.get('x-checksum-sha256')).toBe(hello.sha256);
    expect(file.headers.get('content-disposition')).toMatch(/hello\.txt/);

    const link = await env.req('GET', `${hello.url}/link`, { as: 'partner:acme' });
    expect(link.json.url).toMatch(/^\/dl\//);
    const viaLink = await env.req('GET', link.json.url, { as: null });
    expect(viaLink.text).toBe('acme\n');
    expect((await env.req('GET', `${link.json.url.slice(0, -3)}xyz`, { as: null })).status).toBe(404);

    const lic = await env.req('GET', `/api/builds/${acmeBuild}/licenses`, { as: 'partner:acme' });
    expect(lic.json.variants).toEqual([{ variantId: variant, present: false, reason: 'the plan checks no licenses' }]);
    expect((await env.req('GET', `/api/builds/${acmeBuild}/sbom/${variant}`, { as: 'partner:acme' })).status).toBe(404);
  });

  test('partner A against partner B\'s build: 404 everywhere, absent from every list', async () => {
    const variant = `acme-hello-x86_64`;
    const paths = [
      ['GET', `/api/builds/${acmeBuild}`],
      ['GET', `/api/builds/${acmeBuild}/logs`],
      ['GET', `/api/builds/${acmeBuild}/logs/${variant}/write`],
      ['GET', `/api/builds/${acmeBuild}/logs/${variant}/write/follow`],
      ['GET', `/api/builds/${acmeBuild}/events`],
      ['GET', `/api/builds/${acmeBuild}/artifacts`],
      ['GET', `/api/builds/${acmeBuild}/artifacts/${variant}/hello`],
      ['GET', `/api/builds/${acmeBuild}/artifacts/${variant}/hello/link`],
      ['GET', `/api/builds/${acmeBuild}/licenses`],
      ['GET', `/api/builds/${acmeBuild}/sbom/${variant}`],
      ['POST', `/api/builds/${acmeBuild}/cancel`],
      ['POST', `/api/builds/${acmeBuild}/resume`],
      ['POST', `/api/builds/${acmeBuild}/retry`],
      ['POST', `/api/builds/${acmeBuild}/skip`],
      ['POST', `/api/builds/${acmeBuild}/abort`],
      ['POST', `/api/builds/${acmeBuild}/approve`],
    ] as const;
    const missing = await env.req('GET', '/api/builds/no-such-build-0', { as: 'partner:globex' });
    for (const [method, url] of paths) {
      for (const who of ['partner:globex', 'community'] as const) {
        const r = await env.req(method, url, { as: who, ...(method === 'POST' ? { body: {} } : {}) });
        expect([method, url, who, r.status]).toEqual([method, url, who, 404]);
        // Exactly what a build that does not exist answers, so nothing leaks.
        if (url === `/api/builds/${acmeBuild}`) expect(r.json.message).toBe(missing.json.message.replace('no-such-build-0', acmeBuild));
      }
    }
    const ids = async (who: TestRole, q = '') => (await env.req('GET', `/api/builds${q}`, { as: who })).json.builds.map((b: { buildId: string }) => b.buildId);
    expect(await ids('partner:globex')).toEqual([globexBuild]);
    expect(await ids('partner:globex', '?owner=partner:acme')).toEqual([]);
    expect(await ids('partner:acme')).toEqual([acmeBuild]);
    expect(await ids('community')).toEqual([publicBuild]);
    expect(new Set(await ids('maintainer'))).toEqual(new Set([acmeBuild, globexBuild, publicBuild]));
    const matrix = async (who: TestRole) => (await env.req('GET', '/api/matrix?scope=all', { as: who })).json.products.map((p: { product: string }) => p.product);
    expect(await matrix('partner:globex')).toEqual(['globex-hello']);
    expect(await matrix('community')).toEqual(['public-hello']);
    expect(await matrix('admin')).toEqual(['acme-hello', 'globex-hello', 'public-hello']);
    const cell = (await env.req('GET', '/api/matrix?scope=all', { as: 'partner:acme' })).json.products[0].cells.x86_64;
    expect(cell.latest).toMatchObject({ buildId: acmeBuild, state: 'succeeded', bootTest: 'none' });
  });

  test('the authorization matrix: each role against each endpoint of partner acme\'s finished build', async () => {
    const noopPlan = (owner: unknown) => ({ ...x86Plan(`authz-${Math.random().toString(16).slice(2, 8)}`, [{ id: 'n', kind: 'noop', params: {} }]), owner });
    // [method, url, body, expected status per role: admin, maintainer, community, acme, globex]
    const cases: Array<[string, string, unknown, number[]]> = [
      ['GET', `/api/builds/${acmeBuild}`, undefined, [200, 200, 404, 200, 404]],
      ['GET', `/api/builds/${acmeBuild}/artifacts`, undefined, [200, 200, 404, 200, 404]],
      ['GET', `/api/builds/${acmeBuild}/licenses`, undefined, [200, 200, 404, 200, 404]],
      ['POST', `/api/builds/${acmeBuild}/cancel`, {}, [409, 409, 404, 409, 404]],
      ['POST', `/api/builds/${acmeBuild}/retry`, {}, [409, 409, 404, 409, 404]],
      ['POST', `/api/builds/${acmeBuild}/skip`, {}, [409, 409, 404, 409, 404]],
      ['POST', `/api/builds/${acmeBuild}/abort`, {}, [409, 409, 404, 409, 404]],
      ['POST', `/api/builds/${acmeBuild}/approve`, {}, [409, 409, 404, 403, 404]],
      ['POST', '/api/builds', { plan: noopPlan(ACME) }, [201, 201, 403, 201, 403]],
      ['POST', '/api/builds', { plan: writerPlan('x-exec', ACME) }, [201, 201, 403, 403, 403]],
      ['POST', '/api/recipes/validate', { text: 'product x {}' }, [200, 200, 200, 200, 200]],
      ['PUT', '/api/recipes/authz.sborka', { text: '# nothing yet\n' }, [200, 200, 403, 200, 200]],
      ['GET', '/api/audit', undefined, [200, 403, 403, 403, 403]],
      ['PUT', '/api/webhooks/partner:acme', { url: 'http://127.0.0.1:9/hook' }, [200, 200, 403, 200, 404]],
      ['GET', '/api/webhooks/partner:acme/deliveries', undefined, [200, 200, 404, 200, 404]],
      ['GET', '/api/schedules', undefined, [200, 200, 200, 200, 200]],
      ['GET', '/api/matrix', undefined, [200, 200, 200, 200, 200]],
    ];
    const got: string[] = [];
    const want: string[] = [];
    for (const [method, url, body, expected] of cases) {
      for (const [i, role] of ROLES.entries()) {
        const r = await env.req(method, url, { as: role, ...(body !== undefined ? { body } : {}) });
        got.push(`${method} ${url} ${role} ${r.status}`);
        want.push(`${method} ${url} ${role} ${expected[i]}`);
      }
    }
    expect(got).toEqual(want);
  });

  test('bad bodies and queries: 400 naming each field by its path; too large: 413; bad JSON: 400', async () => {
    const badKind = await env.req('POST', '/api/builds', {
      body: { plan: { version: 1, product: 'bad', toolchain: { name: 'core', version: '1' }, variants: [{ id: 'v', product: 'bad', arch: 'x86_64', taskQueue: 'build-x86_64', steps: [{ id: 'a', kind: 'compile', params: {} }] }] } },
    });
    expect(badKind.status).toBe(400);
    expect(badKind.json.issues.map((i: { path: string }) => i.path)).toContain('body.plan.variants[0].steps[0].kind');

    const dup = await env.req('POST', '/api/builds', { body: { plan: x86Plan('dup', [{ id: 'a', kind: 'noop', params: {} }, { id: 'a', kind: 'noop', params: {} }]) } });
    expect(dup.status).toBe(400);
    expect(dup.json.issues).toEqual([{ path: 'body.plan.variants[0].steps[1].id', message: 'duplicate step id "a"' }]);

    const both = await env.req('POST', '/api/builds', { body: {} });
    expect(both.json.issues).toEqual([{ path: 'body.recipe', message: 'give either "recipe" or "plan"' }]);
    const name = await env.req('POST', '/api/builds', { body: { recipe: '../etc/passwd' } });
    expect(name.json.issues[0].path).toBe('body.recipe');
    const arch = await env.req('GET', '/api/builds?arch=pdp11&limit=0');
    expect(arch.status).toBe(400);
    expect(arch.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.arch', 'query.limit']);
    const hook = await env.req('PUT', '/api/webhooks/partner:acme', { body: { url: 'ftp://x', events: ['build.exploded'] } });
    expect(hook.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body.events[0]', 'body.url']);

    const json = await env.req('POST', '/api/builds', { raw: '{"plan": ' });
    expect(json.status).toBe(400);
    const huge = await env.req('POST', '/api/recipes/validate', { raw: JSON.stringify({ text: 'x'.repeat(5 * 1024 * 1024) }) });
    expect(huge.status).toBe(413);
    expect(huge.json.error).toBe('too_large');
    const long = await env.req('POST', '/api/recipes/validate', { body: { text: 'x'.repeat(300 * 1024) } });
    expect(long.json.issues[0].path).toBe('body.text');
  });

  test('operators: wait, retry, abort, resume; skip refused; approve refused where no license review waits', async () => {
    const dir = fs.mkdtempSync(path.join(env.sborka.stateDir, 'inputs-'));
    const needed = path.join(dir, 'input.txt');
    const id = await start(fragilePlan('acme-fragile', ACME, needed));
    const waiting = await env.waitFor('the variant to wait', async () => {
      const r = await env.req('GET', `/api/builds/${id}`, { as: 'partner:acme' });
      return r.json.variants[0]?.state === 'waiting' ? r.json : undefined;
    });
    expect(waiting.actions).toEqual(['cancel', 'retry', 'abort']);
    expect((await env.req('POST', `/api/builds/${id}/skip`, { as: 'partner:acme', body: {} })).status).toBe(409);
    expect((await env.req('POST', `/api/builds/${id}/approve`, { as: 'partner:acme', body: {} })).status).toBe(403);
    const approve = await env.req('POST', `/api/builds/${id}/approve`, { as: 'maintainer', body: {} });
    expect(approve.status).toBe(409);
    expect(approve.json.message).toMatch(/approve/);

    // abort: the build fails; then, with its input fixed, resume finishes it under the same id.
    const abort = await env.req('POST', `/api/builds/${id}/abort`, { as: 'partner:acme', body: { reason: 'input lost' } });
    expect(abort.json).toMatchObject({ action: 'abort', step: 'copy' });
    expect((await env.finished(id, 'partner:acme')).product.state).toBe('failed');
    fs.writeFileSync(needed, 'restored\n');
    const resumed = await env.req('POST', `/api/builds/${id}/resume`, { as: 'partner:acme', body: {} });
    expect(resumed.status).toBe(201);
    expect(resumed.json.buildId).toBe(id);
    expect((await env.finished(id, 'partner:acme')).product.state).toBe('succeeded');

    // retry: a second build waits (on another input: the first one's step is in the store now);
    // fixing the input and retrying finishes it.
    const needed2 = path.join(dir, 'input-2.txt');
    const id2 = await start(fragilePlan('acme-fragile-2', ACME, needed2));
    await env.waitFor('the second variant to wait', async () => ((await env.req('GET', `/api/builds/${id2}`)).json.variants[0]?.state === 'waiting' ? true : undefined));
    fs.writeFileSync(needed2, 'restored\n');
    const retry = await env.req('POST', `/api/builds/${id2}/retry`, { as: 'partner:acme', body: {} });
    expect(retry.json).toMatchObject({ action: 'retry', step: 'copy', variantId: 'acme-fragile-2-x86_64' });
    expect((await env.finished(id2, 'partner:acme')).product.state).toBe('succeeded');
  });

  test('cancel a running build; live status and log over server-sent events', async () => {
    const slow = { ...x86Plan('acme-slow', [
      { id: 'talk', kind: 'exec', params: { argv: [process.execPath, '-e', "let i=0; const t=setInterval(()=>{console.log('tick '+(++i)); if(i===3) clearInterval(t);}, 300)"] } },
      { id: 'sleep', kind: 'exec', needs: ['talk'], params: { argv: ['sleep', '60'] } },
    ]), owner: ACME };
    const id = await start(slow);
    // Followed at once, before the variant may have started: a planned step waits for its log;
    // a step the plan does not hold is a 404 straight away.
    const unplanned = await env.req('GET', `/api/builds/${id}/logs/acme-slow-x86_64/nope/follow`, { as: 'partner:acme' });
    expect(unplanned.status).toBe(404);
    const log = await readSse(`/api/builds/${id}/logs/acme-slow-x86_64/talk/follow`, 'partner:acme', (e, d) => e === 'log' && /tick 3/.test(d.text));
    expect(log.status).toBe(200);
    expect(log.events.map((e) => e.data.text).join('')).toMatch(/tick 1[\s\S]*tick 3/);
    const cancel = await env.req('POST', `/api/builds/${id}/cancel`, { as: 'partner:acme', body: {} });
    expect(cancel.status).toBe(200);
    const events = await readSse(`/api/builds/${id}/events`, 'partner:acme', (e) => e === 'end');
    expect(events.events.at(-1)).toEqual({ event: 'end', data: { state: 'cancelled' } });
    expect(events.events.find((e) => e.event === 'status')!.data.product.buildId).toBe(id);
  });
});

describe('recipes', () => {
  const broken = `import "regular-xfce.sborka"

variant acme-desk of regular-xfce {
  owner partner acme
  packages {
    acme-agent
  }
  arhc x86_64
}
`;
  const fixed = broken.replace('  arhc x86_64\n', '');

  test('a partner checks a variant with a mistake, sees where, fixes it, stores and starts it', async () => {
    const v = await env.req('POST', '/api/recipes/validate', { as: 'partner:acme', body: { name: 'acme-desk.sborka', text: broken } });
    expect(v.status).toBe(200);
    expect(v.json.ok).toBe(false);
    const err = v.json.diagnostics.find((d: { severity: string }) => d.severity === 'error');
    expect(err).toMatchObject({ file: 'products/acme-desk.sborka', line: 8, col: 3 });
    expect(v.json.rendered).toMatch(/acme-desk\.sborka:8:3/);

    const refused = await env.req('PUT', '/api/recipes/acme-desk.sborka', { as: 'partner:acme', body: { text: broken } });
    expect(refused.status).toBe(422);
    expect(refused.json.details.diagnostics[0].line).toBe(8);

    const ok = await env.req('PUT', '/api/recipes/acme-desk.sborka', { as: 'partner:acme', body: { text: fixed } });
    expect(ok.status).toBe(200);
    expect(ok.json.validation.products).toEqual([expect.objectContaining({ name: 'acme-desk', owner: 'partner:acme', variantOf: 'regular-xfce' })]);
    expect((await env.req('GET', '/api/recipes', { as: 'partner:acme' })).json.recipes.map((r: { name: string }) => r.name)).toContain('acme-desk.sborka');
    expect((await env.req('GET', '/api/recipes/acme-desk.sborka', { as: 'partner:acme' })).json.text).toBe(fixed);

    // Another partner sees none of it, and cannot build it.
    expect((await env.req('GET', '/api/recipes', { as: 'partner:globex' })).json.recipes.map((r: { name: string }) => r.name)).not.toContain('acme-desk.sborka');
    expect((await env.req('GET', '/api/recipes/acme-desk.sborka', { as: 'partner:globex' })).status).toBe(404);
    expect((await env.req('GET', '/api/recipes?tenant=partner:acme', { as: 'partner:globex' })).status).toBe(404);
    expect((await env.req('POST', '/api/builds', { as: 'partner:globex', body: { recipe: 'acme-desk.sborka' } })).status).toBe(404);
    // ... nor import it from its own recipe.
    const sneaky = await env.req('POST', '/api/recipes/validate', { as: 'partner:globex', body: { name: 'g.sborka', text: 'import "acme-desk.sborka"\n' } });
    expect(sneaky.json.diagnostics[0].code).toBe('import-not-found');
    // Maintainers can read it to help.
    expect((await env.req('GET', '/api/recipes?tenant=partner:acme', { as: 'maintainer' })).json.recipes.map((r: { name: string }) => r.name)).toContain('acme-desk.sborka');

    // Started from the recipe, the plan carries the partner as owner. It publishes to
    // /srv/images, which no publish config here grants to a partner: the publishing preflight
    // fails the build before any variant starts, unless the cancel gets there first.
    const started = await env.req('POST', '/api/builds', { as: 'partner:acme', body: { recipe: 'acme-desk.sborka', arches: ['x86_64'] } });
    expect(started.status).toBe(201);
    expect(started.json).toMatchObject({ product: 'acme-desk', owner: 'partner:acme' });
    const cancel = await env.req('POST', `/api/builds/${started.json.buildId}/cancel`, { as: 'partner:acme', body: {} });
    expect([200, 409]).toContain(cancel.status);
    const ended = await env.finished(started.json.buildId, 'partner:acme');
    expect(['cancelled', 'failed']).toContain(ended.product.state);
    expect(ended.variants).toEqual([]);
  });

  test('a partner\'s recipe must carry its own owner; distribution names are taken', async () => {
    const other = await env.req('POST', '/api/recipes/validate', { as: 'partner:acme', body: { name: 'x.sborka', text: fixed.replace('partner acme', 'partner globex') } });
    expect(other.json.ok).toBe(false);
    expect(other.json.diagnostics.find((d: { code: string }) => d.code === 'owner-not-yours')).toMatchObject({ line: 3 });
    expect((await env.req('PUT', '/api/recipes/regular-xfce.sborka', { as: 'partner:acme', body: { text: fixed } })).status).toBe(409);
    expect((await env.req('DELETE', '/api/recipes/authz.sborka', { as: 'partner:acme' })).status).toBe(200);
    expect((await env.req('DELETE', '/api/recipes/authz.sborka', { as: 'partner:acme' })).status).toBe(404);
  });
});

describe('schedules', () => {
  test('list, pause, unpause and trigger a nightly; the nightly shows in the matrix', async () => {
    const plan = parsePlan({ ...writerPlan('nightly-hello', { kind: 'maintainer', team: 'core' }, 'night\n'), schedule: { cron: '0 2 * * *', timezone: 'UTC' } });
    await syncSchedules(await env.sborka.client(), [plan], false);
    const list = await env.req('GET', '/api/schedules', { as: 'community' });
    expect(list.json.schedules).toEqual([expect.objectContaining({ scheduleId: 'sborka-nightly-nightly-hello', owner: 'maintainer:core', paused: false, cron: '0 2 * * * UTC' })]);
    expect((await env.req('GET', '/api/schedules', { as: 'partner:acme' })).json.schedules).toEqual([]);
    expect((await env.req('POST', '/api/schedules/sborka-nightly-nightly-hello/pause', { as: 'community', body: {} })).status).toBe(403);
    expect((await env.req('POST', '/api/schedules/sborka-nightly-nightly-hello/pause', { as: 'partner:acme', body: {} })).status).toBe(404);
    expect((await env.req('POST', '/api/schedules/sborka-nightly-nightly-hello/pause', { as: 'maintainer', body: { note: 'mirror down' } })).json).toEqual({ scheduleId: 'sborka-nightly-nightly-hello', paused: true });
    expect((await env.req('GET', '/api/schedules')).json.schedules[0].paused).toBe(true);
    expect((await env.req('POST', '/api/schedules/sborka-nightly-nightly-hello/unpause', { as: 'maintainer', body: {} })).json.paused).toBe(false);
    expect((await env.req('POST', '/api/schedules/sborka-nightly-nightly-hello/trigger', { as: 'admin', body: {} })).json.triggered).toBe(true);
    const nightly = await env.waitFor('the nightly build', async () => {
      const b = (await env.req('GET', '/api/builds?product=nightly-hello', { as: 'community' })).json.builds[0];
      return b && b.state === 'succeeded' ? b : undefined;
    });
    expect(nightly.nightly).toBe(true);
    const matrix = await env.req('GET', '/api/matrix', { as: 'community' });
    expect(matrix.json.products.map((p: { product: string }) => p.product)).toEqual(['nightly-hello']);
    expect(matrix.json.products[0].cells.x86_64.latest).toMatchObject({ buildId: nightly.buildId, state: 'succeeded', nightly: true });
  });
});

describe('tokens, audit, limits', () => {
  test('tokens are stored only as hashes; `sborka token` creates, lists and revokes; revocation is immediate', async () => {
    const io = () => {
      let out = '';
      let err = '';
      return { io: { stdout: { write: (s: string) => ((out += s), true) } as never, stderr: { write: (s: string) => ((err += s), true) } as never, cwd: process.cwd() }, out: () => out, err: () => err };
    };
    const saved = process.env.SBORKA_STATE_DIR;
    process.env.SBORKA_STATE_DIR = env.sborka.stateDir;
    try {
      const c = io();
      expect(await tokenCommand.run(['create', '--role', 'partner:initech', '--name', 'initech-ci'], c.io)).toBe(0);
      const token = c.out().trim();
      expect(token).toMatch(/^sborka_[A-Za-z0-9_-]{43}$/);
      const id = /created (tok_[0-9a-f]+)/.exec(c.err())![1]!;
      expect((await env.req('GET', '/api/me', { token })).json).toMatchObject({ role: 'partner:initech', name: 'initech-ci', tokenId: id });

      // Nowhere on disk in plain text: neither the database nor its write-ahead log.
      const files = fs.readdirSync(env.sborka.stateDir).filter((f) => f.startsWith(path.basename(apiDbPath(env.sborka.stateDir))));
      for (const f of files) expect(fs.readFileSync(path.join(env.sborka.stateDir, f)).includes(Buffer.from(token))).toBe(false);
      const row = env.db.prepare('SELECT hash FROM tokens WHERE id = ?').get(id) as { hash: string };
      expect(row.hash).toBe(createHash('sha256').update(token).digest('hex'));

      const l = io();
      expect(await tokenCommand.run(['list'], l.io)).toBe(0);
      expect(l.out()).toMatch(new RegExp(`${id}\\s+partner:initech`));
      expect(l.out()).not.toContain(token);

      const r = io();
      expect(await tokenCommand.run(['revoke', id], r.io)).toBe(0);
      const after = await env.req('GET', '/api/me', { token });
      expect(after.status).toBe(401);
      await expect(tokenCommand.run(['create', '--role', 'emperor'], io().io)).rejects.toThrow(/must be admin, maintainer, community or partner/);
    } finally {
      process.env.SBORKA_STATE_DIR = saved;
    }
  });

  test('every mutating call is in the audit log (who, what, when, outcome), refused ones too', async () => {
    await env.req('POST', `/api/builds/${acmeBuild}/cancel`, { as: 'partner:globex', body: {} });
    const log = await env.req('GET', `/api/audit?target=${acmeBuild}&limit=500`, { as: 'admin' });
    const entries = log.json.entries as Array<{ who: string; role: string; method: string; route: string; status: number; at: string }>;
    expect(entries.find((e) => e.role === 'partner:globex' && e.route === '/api/builds/:id/cancel')).toMatchObject({ who: 'partner:globex-test', method: 'POST', status: 404 });
    expect(entries.find((e) => e.route === '/api/builds' && e.status === 201)).toMatchObject({ who: 'admin-test', role: 'admin' });
    expect(Date.parse(entries[0]!.at)).toBeGreaterThan(Date.now() - 600_000);
    const all = (await env.req('GET', '/api/audit?limit=1000', { as: 'admin' })).json.entries as Array<{ route: string; status: number }>;
    expect(all.some((e) => e.route === '/api/recipes/:name' && e.status === 422)).toBe(true);
    expect(all.some((e) => e.route === 'token revoke')).toBe(true);
    expect(all.some((e) => e.route === '/api/recipes/validate' && e.status === 413)).toBe(true);
  });

  test('rate limits are per token: 429 with Retry-After, other tokens unaffected', async () => {
    const server = await createApiServer({
      config: env.sborka.config, client: await env.sborka.client(), logger: pino({ level: 'silent' }), db: env.db,
      rateLimit: { perSecond: 0.5, burst: 3 }, dispatchWebhooks: false,
    });
    try {
      const base = await server.listen(0, '127.0.0.1');
      const hit = (who: TestRole) => fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${env.tokens[who]}` } });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await hit('partner:acme')).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await hit('partner:acme');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await limited.json()) as { error: string }).error).toBe('rate_limited');
      expect((await hit('partner:globex')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
