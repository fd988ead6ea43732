// Webhooks: a receiver on 127.0.0.1 gets the owner's events signed with HMAC-SHA256; one
// that fails is retried with exponential backoff until it accepts. 127.0.0.1 is loopback,
// which the egress policy refuses: the server's admin allow-list names it, as an admin would
// name an internal receiver. Every other refused range is refused through the API.
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { signature } from '../../service/api/webhooks';
import { REFUSED_SAMPLES } from './egress-samples';
import { ApiEnv, fragilePlan, writerPlan } from './helpers';

jest.setTimeout(300_000);

interface Received { at: number; headers: http.IncomingHttpHeaders; body: string }

let env: ApiEnv;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
/** How many of the next requests the receiver fails with 503. */
let failNext = 0;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, body });
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end('not now');
      } else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks/sborka`;
  env = await ApiEnv.start({ webhooks: { pollMs: 300, retryBaseMs: 400, maxAttempts: 5, allowHosts: ['127.0.0.1'] } });
});
afterAll(async () => {
  await env?.stop();
  await new Promise((r) => receiver?.close(r));
});

function verify(r: Received, secret: string): void {
  const sig = String(r.headers['x-sborka-signature']);
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
  expect(m).not.toBeNull();
  const expected = createHmac('sha256', secret).update(`${m![1]}.${r.body}`).digest('hex');
  expect(m![2]).toBe(expected);
  expect(sig).toBe(signature(secret, r.body, Number(m![1])));
}

test('a finished build of the owner is announced with a valid signature; a failing receiver is retried with backoff', async () => {
  const secret = 'acme-webhook-secret-0123456789';
  const set = await env.req('PUT', '/api/webhooks/partner:acme', { as: 'partner:acme', body: { url: receiverUrl, secret } });
  expect(set.status).toBe(200);
  expect(set.json).toMatchObject({ owner: 'partner:acme', url: receiverUrl, secret });
  expect((await env.req('GET', '/api/webhooks', { as: 'partner:acme' })).json.webhooks[0].secret).toBeUndefined();
  expect((await env.req('GET', '/api/webhooks', { as: 'partner:globex' })).json.webhooks).toEqual([]);

  failNext = 2;
  const other = await env.req('POST', '/api/builds', { body: { plan: writerPlan('globex-quiet', { kind: 'partner', name: 'globex' }) } });
  const started = await env.req('POST', '/api/builds', { body: { plan: writerPlan('acme-hooked', { kind: 'partner', name: 'acme' }) } });
  const buildId = started.json.buildId as string;
  await env.finished(buildId);
  await env.finished(other.json.buildId);

  const delivery = await env.waitFor('the delivery to be accepted', async () => {
    const d = (await env.req('GET', '/api/webhooks/partner:acme/deliveries', { as: 'partner:acme' })).json.deliveries.find((x: { event: string }) => x.event === 'build.succeeded');
    return d?.status === 'delivered' ? d : undefined;
  }, 60_000);
  expect(delivery.attempts).toBe(3);

  const mine = received.filter((r) => JSON.parse(r.body).build?.buildId === buildId);
  expect(mine).toHaveLength(3);
  for (const r of mine) {
    verify(r, secret);
    expect(r.headers['x-sborka-event']).toBe('build.succeeded');
    expect(r.headers['x-sborka-delivery']).toBe(delivery.id);
  }
  expect(JSON.parse(mine[0]!.body)).toMatchObject({ event: 'build.succeeded', build: { buildId, owner: 'partner:acme', product: 'acme-hooked', state: 'succeeded' } });
  // Backoff: the second wait is about twice the first (400 ms, then 800 ms).
  const gap1 = mine[1]!.at - mine[0]!.at;
  const gap2 = mine[2]!.at - mine[1]!.at;
  expect(gap1).toBeGreaterThanOrEqual(390);
  expect(gap2).toBeGreaterThanOrEqual(790);
  expect(gap2).toBeGreaterThan(gap1);
  // Another owner's builds are not announced to acme.
  expect(received.some((r) => JSON.parse(r.body).build?.buildId === other.json.buildId)).toBe(false);
});

test('a variant waiting for an operator is announced once; its failure after abort too', async () => {
  const start = received.length;
  const needed = path.join(env.sborka.stateDir, 'never-there.txt');
  const started = await env.req('POST', '/api/builds', { body: { plan: fragilePlan('acme-hook-wait', { kind: 'partner', name: 'acme' }, needed) } });
  const buildId = started.json.buildId as string;
  const waiting = await env.waitFor('the waiting event', async () => received.slice(start).find((r) => r.headers['x-sborka-event'] === 'build.waiting'), 60_000);
  const body = JSON.parse(waiting.body);
  expect(body).toMatchObject({ event: 'build.waiting', build: { buildId, owner: 'partner:acme' }, variant: { variantId: 'acme-hook-wait-x86_64', step: 'copy', arch: 'x86_64' } });
  verify(waiting, 'acme-webhook-secret-0123456789');

  expect((await env.req('POST', `/api/builds/${buildId}/abort`, { as: 'partner:acme', body: {} })).status).toBe(200);
  const failed = await env.waitFor('the failed event', async () => received.slice(start).find((r) => r.headers['x-sborka-event'] === 'build.failed'), 60_000);
  expect(JSON.parse(failed.body).build).toMatchObject({ buildId, state: 'failed' });
  await new Promise((r) => setTimeout(r, 1500));
  expect(received.slice(start).filter((r) => r.headers['x-sborka-event'] === 'build.waiting')).toHaveLength(1);
  expect(fs.existsSync(needed)).toBe(false);
});

test('a partner cannot point its webhook at a refused range: 400 on body.url, and nothing is stored', async () => {
  const before = (await env.req('GET', '/api/webhooks', { as: 'partner:globex' })).json.webhooks;
  const literals = REFUSED_SAMPLES.filter(([a]) => !a.includes('%') && a !== '127.0.0.1').map(([a]) => `http://${a.includes(':') ? `[${a}]` : a}:22/`);
  // Other spellings of loopback, and a name that resolves to it: the allow-list names 127.0.0.1 only as written there.
  const urls = [...literals, 'http://localhost:22/', 'https://[::1]/', 'http://[::ffff:7f00:1]/x'];
  for (const url of urls) {
    const r = await env.req('PUT', '/api/webhooks/partner:globex', { as: 'partner:globex', body: { url } });
    expect({ url, status: r.status }).toEqual({ url, status: 400 });
    expect(r.json).toMatchObject({ error: 'bad_request', issues: [{ path: 'body.url', message: expect.stringMatching(/(is|resolves to) an address in a refused range \(.+\)$/) }] });
  }
  expect((await env.req('GET', '/api/webhooks', { as: 'partner:globex' })).json.webhooks).toEqual(before);
});
