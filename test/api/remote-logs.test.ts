// Logs and artifacts from anywhere: a step runs on "host A" (its own state, store cache and
// log directory, the build-x86_64 queue), the API and the control worker run on "host B"
// (other directories), and `sborka logs` on "host C". Nothing is shared but Temporal and the
// remote store, a real docker-registry on 127.0.0.1. B follows A's step live and reads it
// whole afterwards; B serves artifacts built on A from the store, never from A's disk; what
// the confinement must refuse is refused.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Client } from '@temporalio/client';
import { stepLogPath } from '../../activities/step-log';
import { StepStore } from '../../activities/store';
import { printLogs } from '../../cli/commands/logs';
import type { Config } from '../../config/config';
import { eventually, SborkaEnv, x86Plan } from '../helpers/sborka-env';
import { startFarm, type Farm } from './farm-fixture';
import { sseEvents } from './helpers';

jest.setTimeout(300_000);

const ACME = { kind: 'partner', name: 'acme' };
let farm: Farm;
let regDir: string;
let sborka: SborkaEnv;
let client: Client;
let hostA: Config;
let hostB: Config;
let hostC: Config;
let base: string;
let tokens: Record<string, string>;

beforeAll(async () => {
  farm = await startFarm('sborka-remote-logs', { hosts: 3, roles: ['admin', 'partner:acme', 'partner:globex'] });
  ({ regDir, sborka, client, base, tokens } = farm);
  [hostA, hostB, hostC] = farm.hosts as [Config, Config, Config];
});
afterAll(() => farm?.stop());

const req = (url: string, as = 'partner:acme', method = 'GET', body?: unknown) => farm.req(url, as, method, body);

/** Server-sent events until `end` or `error`; `onEvent` sees each one as it arrives. */
async function follow(url: string, onEvent: (event: string, data: { text?: string; message?: string }) => void = () => undefined) {
  const res = await fetch(base + url, { headers: { authorization: `Bearer ${tokens['partner:acme']}` } });
  expect(res.status).toBe(200);
  const events: Array<{ event: string; data: { text?: string; message?: string; offset?: number } }> = await sseEvents(res, (event, data) => {
    onEvent(event, data);
    return event === 'end' || event === 'error';
  });
  return events;
}

/** A step that prints a line, waits for the test to open its gate, prints another; and an artifact. */
function gatedPlan(product: string, gate: string) {
  const talk = `console.log('first line'); const fs = require('fs'); const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(gate)})) { clearInterval(t); console.log('second line'); } }, 100);`;
  const write = `require('fs').writeFileSync(require('path').join(process.env.SBORKA_OUTPUT_DIR, 'hello.txt'), 'hello from host a\\n');`;
  return {
    ...x86Plan(product, [
      { id: 'talk', kind: 'exec', params: { argv: [process.execPath, '-e', talk] } },
      { id: 'write', kind: 'exec', needs: ['talk'], params: { argv: [process.execPath, '-e', write] } },
      { id: 'sums', kind: 'checksum', needs: ['write'], params: {} },
    ], [
      { name: 'hello', step: 'write', path: 'hello.txt', format: 'file' },
      { name: 'sha256sums', step: 'sums', path: 'SHA256SUMS', format: 'report' },
    ]),
    owner: ACME,
  };
}

async function start(plan: unknown): Promise<string> {
  // A partner may not post exec steps: an admin posts the partner's build.
  const r = await req('/api/builds', 'admin', 'POST', { plan });
  expect(r.status).toBe(201);
  return r.json.buildId as string;
}

async function finished(id: string) {
  return eventually(`build ${id} to finish`, async () => {
    const r = await req(`/api/builds/${id}`);
    return r.status === 200 && r.json.product.state !== 'running' ? r.json : undefined;
  }, 240_000);
}

const V = 'acme-remote-x86_64';
let buildId: string;
let logA: string;

describe('a step on host A, seen from host B', () => {
  it('B follows the log live from the store and reads it whole afterwards; B has no copy on its disk', async () => {
    const gate = path.join(sborka.stateDir, 'gate-1');
    buildId = await start(gatedPlan('acme-remote', gate));
    let sawFirst = false;
    // Opened right after the build was posted; the gate opens only once B has shown the first line.
    const events = await follow(`/api/builds/${buildId}/logs/${V}/talk/follow`, (event, data) => {
      if (event === 'log' && !sawFirst && /^first line$/m.test(data.text ?? '')) {
        sawFirst = true;
        fs.writeFileSync(gate, '');
      }
    });
    expect(sawFirst).toBe(true);
    expect(events.at(-1)!.event).toBe('end');
    expect((await finished(buildId)).product.state).toBe('succeeded');
    logA = fs.readFileSync(stepLogPath(hostA.logDir, buildId, V, 'talk'), 'utf8');
    expect(logA).toMatch(/^first line\n(.*\n)*second line\n/m);
    expect(events.filter((e) => e.event === 'log').map((e) => e.data.text).join('')).toBe(logA);
    expect(fs.existsSync(stepLogPath(hostB.logDir, buildId, V, 'talk'))).toBe(false);

    const whole = await req(`/api/builds/${buildId}/logs/${V}/talk`);
    expect(whole.status).toBe(200);
    expect(whole.text).toBe(logA);
    expect(whole.headers.get('x-log-size')).toBe(String(Buffer.byteLength(logA)));
    const part = await req(`/api/builds/${buildId}/logs/${V}/talk?offset=3`);
    expect(part.text).toBe(logA.slice(3));
    expect((await req(`/api/builds/${buildId}/logs/${V}/talk?tail=1`)).text).toBe(`${logA.trimEnd().split('\n').at(-1)}\n`);
    const list = await req(`/api/builds/${buildId}/logs`);
    expect(list.json.logs.find((l: { step: string }) => l.step === 'talk')).toMatchObject({ size: Buffer.byteLength(logA), state: 'succeeded' });
    const writeLog = fs.readFileSync(stepLogPath(hostA.logDir, buildId, V, 'write'), 'utf8');
    expect((await req(`/api/builds/${buildId}/logs/${V}/write`)).text).toBe(writeLog);
  });

  it('B serves an artifact built on A from the store through its own cache, never from A\'s disk', async () => {
    const detail = await req(`/api/builds/${buildId}`);
    const write = detail.json.variants[0].steps.find((s: { id: string }) => s.id === 'write');
    // A's copy goes bad; B must not care (it never reads A's disk).
    fs.chmodSync(path.join(write.outputDir, 'hello.txt'), 0o644);
    fs.writeFileSync(path.join(write.outputDir, 'hello.txt'), 'tampered on host a\n');
    const list = await req(`/api/builds/${buildId}/artifacts`);
    const hello = list.json.artifacts.find((a: { name: string }) => a.name === 'hello');
    const want = 'hello from host a\n';
    expect(hello).toMatchObject({ available: true, size: want.length, sha256: createHash('sha256').update(want).digest('hex') });
    const got = await req(hello.url);
    expect(got.status).toBe(200);
    expect(got.text).toBe(want);
    expect(got.headers.get('x-checksum-sha256')).toBe(hello.sha256);
    // Now in B's cache (its store directory), in the partner's namespace.
    expect(await new StepStore(hostB.storeDir).forTenant('acme').lookup(write.key, { touch: false })).toBeDefined();
  });

  it('B never serves an artifact whose bytes are corrupt in the store', async () => {
    const list = await req(`/api/builds/${buildId}/artifacts`);
    const sums = list.json.artifacts.find((a: { name: string }) => a.name === 'sha256sums');
    expect(sums.available).toBe(true);
    const blob = path.join(regDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', sums.sha256.slice(0, 2), sums.sha256, 'data');
    const real = fs.readFileSync(blob);
    const fake = Buffer.from(real.toString().replace(/[0-9a-f]/, (c) => (c === '0' ? '1' : '0')));
    fs.writeFileSync(blob, fake);
    const got = await req(sums.url);
    expect(got.status).toBe(409);
    expect(got.bytes.includes(fake)).toBe(false);
    // The evidence is kept in B's quarantine (the partner's namespace or the shared one, where the step was placed).
    const kept = [path.join(hostB.storeDir, 'tenants', 'acme', 'quarantine'), path.join(hostB.storeDir, 'quarantine')].flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d) : []));
    expect(kept.length).toBeGreaterThan(0);
  });

  it('a failed step\'s log is read on B', async () => {
    const plan = { ...x86Plan('acme-remote-fail', [
      { id: 'boom', kind: 'exec', params: { argv: ['sh', '-c', 'echo going down; exit 4'] }, retry: { maximumAttempts: 1, initialIntervalMs: 100 } },
    ]), owner: ACME };
    const id = await start(plan);
    // A failed step waits for an operator: its state is what counts.
    await eventually('the step to fail', async () => {
      const r = await req(`/api/builds/${id}`);
      const state = r.json?.variants?.[0]?.steps?.find((s: { id: string }) => s.id === 'boom')?.state;
      return ['failed', 'waiting'].includes(state) ? true : undefined;
    }, 240_000);
    const local = fs.readFileSync(stepLogPath(hostA.logDir, id, 'acme-remote-fail-x86_64', 'boom'), 'utf8');
    const got = await req(`/api/builds/${id}/logs/acme-remote-fail-x86_64/boom`);
    expect(got.text).toBe(local);
    expect(got.text).toMatch(/going down[\s\S]*attempt 1 failed/);
    await req(`/api/builds/${id}/cancel`, 'partner:acme', 'POST', {});
  });
});

describe('confinement', () => {
  it('another tenant\'s build is a 404 with the message of a missing build, on every log and artifact route', async () => {
    const missing = 'acme-remote-20260101-000000-ffffff';
    for (const suffix of ['/logs', `/logs/${V}/talk`, `/logs/${V}/talk/follow`, '/artifacts', `/artifacts/${V}/hello`]) {
      const theirs = await req(`/api/builds/${buildId}${suffix}`, 'partner:globex');
      const none = await req(`/api/builds/${missing}${suffix}`, 'partner:acme');
      expect([theirs.status, none.status]).toEqual([404, 404]);
      expect(theirs.json.message.replace(buildId, 'ID')).toBe(none.json.message.replace(missing, 'ID'));
      expect(theirs.text).not.toContain('first line');
    }
  });

  it('ids that look like paths name no step', async () => {
    // (A bare .. segment never reaches the server: the URL parser resolves it first.)
    for (const [variant, step] of [['..%2F..', 'talk'], [`..%2F..%2F${V}`, 'talk'], [V, '..%2Ftalk'], [V, '%2Fetc%2Fpasswd'], ['%2Fetc', 'passwd']]) {
      const got = await req(`/api/builds/${buildId}/logs/${variant}/${step}`);
      expect(got.status).toBe(404);
      expect(got.text).not.toContain('root:');
    }
  });

  it('a link in B\'s log directory to outside is not followed: the log comes from the store', async () => {
    const secret = path.join(sborka.stateDir, 'secret.txt');
    fs.writeFileSync(secret, 'a secret of host b\n');
    const at = stepLogPath(hostB.logDir, buildId, V, 'talk');
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.symlinkSync(secret, at);
    const got = await req(`/api/builds/${buildId}/logs/${V}/talk`);
    expect(got.text).toBe(logA);
    fs.rmSync(path.dirname(path.dirname(at)), { recursive: true });
    // A linked build directory, its step log a regular file outside.
    const outside = path.join(sborka.stateDir, 'outside', V);
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'talk.log'), 'a secret of host b\n');
    fs.symlinkSync(path.dirname(outside), path.dirname(path.dirname(at)));
    expect((await req(`/api/builds/${buildId}/logs/${V}/talk`)).text).toBe(logA);
    expect((await req(`/api/builds/${buildId}/logs`)).json.logs.find((l: { step: string }) => l.step === 'talk').size).toBe(Buffer.byteLength(logA));
  });
});

describe('sborka logs on host C', () => {
  const collect = () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    return { out, text: () => text };
  };

  it('prints every step of a build that ran on A', async () => {
    const c = collect();
    await printLogs(hostC, client, buildId, { follow: false }, c.out);
    expect(c.text()).toContain(`==> ${V}/talk (succeeded)`);
    expect(c.text()).toContain(logA);
  });

  it('--follow shows a step on A live and ends with all of it', async () => {
    const gate = path.join(sborka.stateDir, 'gate-2');
    const id = await start(gatedPlan('acme-remote', gate));
    const c = collect();
    const following = printLogs(hostC, client, id, { variant: V, step: 'talk', follow: true }, c.out);
    await eventually('host C to print the first line', async () => (/^first line$/m.test(c.text()) ? true : undefined), 240_000);
    expect(c.text()).not.toMatch(/^second line$/m);
    fs.writeFileSync(gate, '');
    await following;
    await finished(id);
    expect(c.text()).toBe(fs.readFileSync(stepLogPath(hostA.logDir, id, V, 'talk'), 'utf8'));
    expect(fs.existsSync(stepLogPath(hostC.logDir, id, V, 'talk'))).toBe(false);
  });
});
