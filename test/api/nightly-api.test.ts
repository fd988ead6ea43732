// Nightlies through the API: GET /api/schedules lists the recent nights with what each
// waited for and who the webhook `build.waiting` event went to; a trigger after tonight's
// build finished starts nothing and says why; GET /api/builds/:id/changes compares two
// builds. A whole `sborka serve` (ApiEnv) with a webhook receiver on 127.0.0.1.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { parsePlan } from '../../plan/plan';
import { syncSchedules } from '../../service/schedules';
import { ApiEnv, fragilePlan, writerPlan } from './helpers';

jest.setTimeout(300_000);

let env: ApiEnv;
let receiver: http.Server;
let receiverUrl: string;
const received: string[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
  env = await ApiEnv.start({ webhooks: { pollMs: 300, retryBaseMs: 400, maxAttempts: 5, allowHosts: ['127.0.0.1'] } });
});
afterAll(async () => {
  await env?.stop();
  await new Promise((r) => receiver?.close(r));
});

const owner = { kind: 'maintainer', team: 'core' };

test('the schedules list says which night waited, for what, and who was notified; a second trigger starts nothing', async () => {
  const needed = path.join(env.sborka.stateDir, 'needed.txt');
  // A partner's nightly: webhooks belong to partners (and the community).
  const plan = parsePlan({ ...fragilePlan('nightly-wait', { kind: 'partner', name: 'acme' }, needed), schedule: { cron: '0 2 * * *', timezone: 'UTC' } });
  await syncSchedules(await env.sborka.client(), [plan], false);
  expect((await env.req('PUT', '/api/webhooks/partner:acme', { as: 'partner:acme', body: { url: receiverUrl, secret: 'acme-webhook-secret-0123456789' } })).status).toBe(200);

  expect((await env.req('POST', '/api/schedules/sborka-nightly-nightly-wait/trigger', { as: 'maintainer', body: {} })).json).toEqual({ scheduleId: 'sborka-nightly-nightly-wait', triggered: true });
  // The copy step fails and waits for an operator; the webhook tells the owner.
  const night = await env.waitFor('the night to wait and be announced', async () => {
    const s = (await env.req('GET', '/api/schedules', { as: 'partner:acme' })).json.schedules[0];
    const n = s?.nights[0];
    return n && n.state === 'waiting' && n.notified.some((x: { status: string }) => x.status === 'delivered') ? n : undefined;
  });
  expect(night).toMatchObject({
    state: 'waiting',
    waits: [{ variantId: 'nightly-wait-x86_64', step: 'copy', open: true, reason: expect.stringContaining(`input ${needed} is missing`) }],
    notified: [{ owner: 'partner:acme', host: new URL(receiverUrl).host, status: 'delivered' }],
  });
  expect(night.night).toBe(night.buildId.slice('nightly-wait-nightly-'.length, 'nightly-wait-nightly-'.length + 10));
  expect(received.some((b) => JSON.parse(b).event === 'build.waiting' && JSON.parse(b).build.buildId === night.buildId)).toBe(true);

  // Tonight already has its build (waiting): a trigger starts nothing and says why.
  const again = await env.req('POST', '/api/schedules/sborka-nightly-nightly-wait/trigger', { as: 'maintainer', body: {} });
  expect(again.json).toEqual({ scheduleId: 'sborka-nightly-nightly-wait', triggered: false, reason: `the night of ${night.night} already has build ${night.buildId} (waiting)` });

  // The operator fixes the input and retries; the night finishes, and a trigger still starts nothing.
  fs.writeFileSync(needed, 'here\n');
  expect((await env.req('POST', `/api/builds/${night.buildId}/retry`, { as: 'maintainer', body: {} })).status).toBe(200);
  expect((await env.finished(night.buildId)).product.state).toBe('succeeded');
  const after = await env.req('POST', '/api/schedules/sborka-nightly-nightly-wait/trigger', { as: 'maintainer', body: {} });
  expect(after.json).toMatchObject({ triggered: false, reason: `the night of ${night.night} already has build ${night.buildId} (succeeded)` });
  const builds = (await env.req('GET', '/api/builds?product=nightly-wait')).json.builds;
  expect(builds.map((b: { buildId: string }) => b.buildId)).toEqual([night.buildId]);
});

test('GET /api/builds/:id/changes compares a build with the last succeeded one before it', async () => {
  const start = async (id: string, text: string) => {
    const r = await env.req('POST', '/api/builds', { as: 'maintainer', body: { id, plan: writerPlan('changes-demo', owner, text) } });
    expect(r.status).toBe(201);
    expect((await env.finished(id)).product.state).toBe('succeeded');
  };
  await start('changes-1', 'short\n');
  await start('changes-2', 'a longer text\n');
  const r = await env.req('GET', '/api/builds/changes-2/changes', { as: 'community' });
  expect(r.status).toBe(200);
  expect(r.json.from).toBe('changes-1');
  expect(r.json.changes).toHaveLength(1);
  expect(r.json.changes[0].outputs.find((o: { name: string }) => o.name === 'hello')).toEqual({ name: 'hello', from: 6, to: 14, delta: 8 });
  expect(r.json.changes[0].recipe.steps.changed).toEqual(['write']);
  expect((await env.req('GET', '/api/builds/changes-2/changes', { as: 'partner:acme' })).status).toBe(404);
  expect((await env.req('GET', '/api/builds/changes-1/changes', { as: 'community' })).status).toBe(400);
});
