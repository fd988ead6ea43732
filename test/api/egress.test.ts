// The webhook egress policy without Temporal: every refused range is refused when a webhook
// is set and again when a delivery is due (a name whose DNS answer changed in between), the
// connection goes to the address that was checked, redirects are not followed, and a
// partner never sees the remote's body. Network traffic: 127.0.0.1 only; every other
// address comes from an injected lookup and is refused before any connection.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { openApiDb, type Db } from '../../service/api/db';
import { EgressPolicy, parseAllowList, refusalOf, REFUSED_RANGES, type Lookup, type Resolved } from '../../service/api/egress';
import { ApiError } from '../../service/api/http';
import { DEFAULT_WEBHOOK_OPTIONS, Webhooks, type WebhookOptions } from '../../service/api/webhooks';
import { REFUSED_SAMPLES } from './egress-samples';

/** Public addresses: checked only (nothing connects to them). */
const PUBLIC = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '2a00:1450:4001::1', '2606:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1'];

describe('refusalOf', () => {
  it.each(REFUSED_SAMPLES)('refuses %s (%s)', (address, reason) => expect(refusalOf(address)).toBe(reason));
  it.each(PUBLIC)('lets %s through', (address) => expect(refusalOf(address)).toBeUndefined());
  it('has a sample for every refused range', () => {
    const reasons = new Set(REFUSED_SAMPLES.map(([, r]) => r));
    expect(REFUSED_RANGES.map(([, r]) => r).filter((r) => !reasons.has(r))).toEqual([]);
  });
});

/** Names resolve through this table only; `answers` may change between calls (rebinding). */
function fakeDns(answers: Record<string, Resolved[] | (() => Resolved[])>): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (host: string) => {
    calls.push(host);
    const a = answers[host];
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return typeof a === 'function' ? a() : a;
  };
  return Object.assign(fn, { calls });
}
const v = (address: string): Resolved[] => [{ address, family: address.includes(':') ? 6 : 4 }];

describe('EgressPolicy.vet', () => {
  const policy = new EgressPolicy(new Set());
  it.each([
    ['http://2130706433/', '127.0.0.1 is an address in a refused range (loopback)'],
    ['http://0177.0.0.1/', '127.0.0.1 is an address in a refused range (loopback)'],
    ['http://0x7f.1/', '127.0.0.1 is an address in a refused range (loopback)'],
    ['http://127.1:8080/x', '127.0.0.1 is an address in a refused range (loopback)'],
    ['http://0x7F000001/', '127.0.0.1 is an address in a refused range (loopback)'],
    ['https://[::1]:443/', '::1 is an address in a refused range (loopback)'],
    ['http://[0:0:0:0:0:0:0:1]/', '::1 is an address in a refused range (loopback)'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1 is an address in a refused range (loopback (IPv4 127.0.0.1 inside IPv6))'],
    ['http://0.0.0.0/', '0.0.0.0 is an address in a refused range (unspecified)'],
    ['http://0/', '0.0.0.0 is an address in a refused range (unspecified)'],
    ['http://[::]/', ':: is an address in a refused range (unspecified)'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is an address in a refused range (cloud metadata)'],
    ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254 is an address in a refused range (cloud metadata)'],
    ['http://[fd00:ec2::254]/', 'fd00:ec2::254 is an address in a refused range (cloud metadata)'],
    ['http://255.255.255.255/', '255.255.255.255 is an address in a refused range (broadcast)'],
    ['http://012.1/', '10.0.0.1 is an address in a refused range (private)'],
    ['http://[fe80::1]/', 'fe80::1 is an address in a refused range (link-local)'],
    ['http://224.0.0.251/', '224.0.0.251 is an address in a refused range (multicast)'],
  ])('refuses %s', async (url, message) => {
    await expect(policy.vet(url)).rejects.toMatchObject({ message, retry: false });
  });

  it('refuses a name that resolves to loopback (localhost, through the system resolver)', async () => {
    await expect(policy.vet('http://localhost:9/')).rejects.toMatchObject({ message: 'localhost resolves to an address in a refused range (loopback)', retry: false });
  });

  it('checks every address of a name, not just the first', async () => {
    const p = new EgressPolicy(new Set(), fakeDns({ 'mixed.test': [...v('8.8.8.8'), ...v('10.0.0.7')] }));
    await expect(p.vet('https://mixed.test/')).rejects.toMatchObject({ message: 'mixed.test resolves to an address in a refused range (private)' });
  });

  it('refuses other schemes and says a name that does not resolve may be tried again', async () => {
    await expect(policy.vet('ftp://example.org/')).rejects.toMatchObject({ retry: false });
    const p = new EgressPolicy(new Set(), fakeDns({}));
    await expect(p.vet('https://nowhere.test/')).rejects.toMatchObject({ message: 'nowhere.test does not resolve', retry: true });
  });

  it('lets an allow-listed host through in any spelling, and only that host', async () => {
    const p = new EgressPolicy(parseAllowList('127.0.0.1, hooks.internal  ::1'), fakeDns({ 'hooks.internal': v('10.1.1.1'), 'other.internal': v('10.1.1.1') }));
    await expect(p.vet('http://0x7f.0.0.1:8080/')).resolves.toMatchObject({ address: '127.0.0.1', allowed: true });
    await expect(p.vet('http://[::1]/')).resolves.toMatchObject({ address: '::1', allowed: true });
    await expect(p.vet('http://HOOKS.internal./x')).resolves.toMatchObject({ address: '10.1.1.1', allowed: true });
    await expect(p.vet('http://127.0.0.2/')).rejects.toMatchObject({ message: '127.0.0.2 is an address in a refused range (loopback)' });
    await expect(p.vet('http://other.internal/')).rejects.toMatchObject({ message: 'other.internal resolves to an address in a refused range (private)' });
    expect(() => parseAllowList('good.host, http://bad host/')).toThrow(/SBORKA_WEBHOOK_ALLOW: "http:\/\/bad" is not a host name/);
  });
});

// ---------- the dispatcher: registration and delivery ----------

interface Hit { url: string; body: string }
let dir: string;
let db: Db;
const servers: http.Server[] = [];

async function receiver(handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ port: number; hits: Hit[] }> {
  const hits: Hit[] = [];
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      hits.push({ url: req.url ?? '', body });
      handle(req, res);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return { port: (s.address() as { port: number }).port, hits };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-egress-'));
  db = openApiDb(dir);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  db?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function hooks(opts: Partial<WebhookOptions>): Webhooks {
  // deliverDue and set never talk to Temporal.
  return new Webhooks(db, {} as Client, pino({ level: 'silent' }), { ...DEFAULT_WEBHOOK_OPTIONS, maxAttempts: 3, timeoutMs: 5000, ...opts });
}
/** Sets a webhook and queues one delivery to it, due now. */
async function queued(w: Webhooks, url: string): Promise<string> {
  const owner = `partner:egress${++seq}`;
  await w.set(owner, { url, events: ['build.succeeded'] });
  db.prepare("INSERT INTO deliveries(id, owner, url, event, payload, status, attempts, next_at, created_at) VALUES (?, ?, ?, 'build.succeeded', ?, 'pending', 0, 0, ?)")
    .run(`dlv_test${seq}`, owner, url, JSON.stringify({ event: 'build.succeeded' }), new Date().toISOString());
  return owner;
}

describe('registration', () => {
  const w = () => hooks({ allowHosts: [], lookup: fakeDns({ 'name.test': v('10.9.9.9') }) });
  it.each(REFUSED_SAMPLES.filter(([a]) => !a.includes('%')))('refuses http://%s/ with a 400 on body.url', async (address) => {
    const url = `http://${address.includes(':') ? `[${address}]` : address}:8080/hook`;
    const err = await w().set('partner:acme', { url, events: ['build.succeeded'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, issues: [{ path: 'body.url', message: expect.stringMatching(/ is an address in a refused range \(.+\)$/) }] });
  });
  it('refuses a name that resolves into a refused range, naming the range but not the address', async () => {
    const err = (await w().set('partner:acme', { url: 'https://name.test/', events: ['build.succeeded'] }).catch((e: unknown) => e)) as ApiError;
    expect(err.issues).toEqual([{ path: 'body.url', message: 'name.test resolves to an address in a refused range (private)' }]);
    expect(JSON.stringify(err.issues)).not.toContain('10.9.9.9');
  });
});

describe('delivery', () => {
  it.each(REFUSED_SAMPLES)('re-checks after DNS: a name that turned into %s is refused and not retried', async (address, reason) => {
    let answer = v('93.184.215.14'); // public when the webhook is set …
    const dns = fakeDns({ 'rebind.test': () => answer });
    const w = hooks({ allowHosts: [], lookup: dns });
    const owner = await queued(w, 'http://rebind.test:8080/hook');
    answer = v(address); // … then the record points inside
    await w.deliverDue();
    const [d] = w.deliveries(owner, 5);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, lastError: `refused by the egress policy: rebind.test resolves to an address in a refused range (${reason})` });
    expect(d!.lastStatus).toBeUndefined();
    expect(dns.calls).toEqual(['rebind.test', 'rebind.test']);
  });

  it('connects to the address it checked: an allow-listed name the system cannot resolve is reached through the vetted answer only', async () => {
    const r = await receiver((_q, res) => res.writeHead(204).end());
    const dns = fakeDns({ 'pinned.test': v('127.0.0.1') });
    const w = hooks({ allowHosts: ['pinned.test'], lookup: dns });
    const owner = await queued(w, `http://pinned.test:${r.port}/in`);
    await w.deliverDue();
    expect(w.deliveries(owner, 5)[0]).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 204 });
    expect(r.hits.map((h) => h.url)).toEqual(['/in']);
    expect(dns.calls).toEqual(['pinned.test', 'pinned.test']); // once at set, once at delivery; the connection asked no one
  });

  it('does not follow redirects, to a refused address or anywhere', async () => {
    const target = await receiver((_q, res) => res.writeHead(204).end());
    for (const code of [301, 302, 307, 308]) {
      const r = await receiver((_q, res) => res.writeHead(code, { location: `http://localhost:${target.port}/inside` }).end());
      const w = hooks({ allowHosts: ['127.0.0.1'] });
      const owner = await queued(w, `http://127.0.0.1:${r.port}/hook`);
      await w.deliverDue();
      expect(w.deliveries(owner, 5)[0]).toMatchObject({ status: 'pending', attempts: 1, lastStatus: code, lastError: `HTTP ${code}` });
      expect(r.hits).toHaveLength(1);
    }
    expect(target.hits).toEqual([]);
  });

  it('shows the partner the status code, never the remote body or a connection error\'s address', async () => {
    const secret = 'SSH-2.0-OpenSSH_9.2 internal-banner db-password=hunter2';
    const r = await receiver((_q, res) => res.writeHead(500, { 'content-type': 'text/plain', 'x-detail': 'internal' }).end(secret));
    const w = hooks({ allowHosts: ['127.0.0.1'] });
    const owner = await queued(w, `http://127.0.0.1:${r.port}/hook`);
    await w.deliverDue();
    const [d] = w.deliveries(owner, 5);
    expect(d).toMatchObject({ status: 'pending', lastStatus: 500, lastError: 'HTTP 500' });
    expect(JSON.stringify(w.deliveries(owner, 5))).not.toContain('hunter2');

    // A closed port on an allowed host: the kind of failure, no address, no port.
    const closed = await receiver(() => undefined);
    const port = closed.port;
    await new Promise((res) => servers.pop()!.close(res));
    const owner2 = await queued(w, `http://127.0.0.1:${port}/hook`);
    await w.deliverDue();
    const [d2] = w.deliveries(owner2, 5);
    expect(d2).toMatchObject({ status: 'pending', attempts: 1, lastError: 'connection failed (ECONNREFUSED)' });
    expect(d2!.lastError).not.toContain(String(port));
  });
});
