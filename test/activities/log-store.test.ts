// Step logs in the remote store, against a real registry (Debian's docker-registry on
// 127.0.0.1, htpasswd auth): streamed while written, complete at the end, kept across
// attempts and hosts, every chunk checked on read; and the local side's confinement.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { localLogFile, openStepLog } from '../../activities/log-read';
import { LogShipper, logsShipped } from '../../activities/log-ship';
import { closeLogStores, logStoreFor, logTag, LogStoreError, type LogId, type LogStore } from '../../activities/log-store';
import { stepLogPath } from '../../activities/step-log';
import { gcRemoteLogs } from '../../activities/log-gc';
import { loadConfig, type Config } from '../../config/config';
import { checkedStream } from '../../service/api/artifacts';
import { startRegistry, type Registry } from '../publish/helpers';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput } from './helpers';

let regDir: string;
let registry: Registry;
let dir: string;
let n = 0;
let prefix: string;

beforeAll(async () => {
  regDir = makeTmpDir('sborka-logreg-');
  registry = await startRegistry(regDir, { builder: 'secret-pw' });
});
afterAll(async () => {
  await logsShipped();
  await closeLogStores();
  await registry.stop();
  removeDir(regDir);
});
beforeEach(() => {
  dir = makeTmpDir();
  prefix = `sborka-logs-${process.pid}-${++n}`;
});
afterEach(() => removeDir(dir));

function host(name: string): Config {
  const pw = path.join(dir, 'store-password');
  fs.writeFileSync(pw, 'secret-pw\n');
  return loadConfig({
    SBORKA_STATE_DIR: path.join(dir, name), SBORKA_STORE_URL: `oci+http://${registry.host}/${prefix}`,
    SBORKA_STORE_USER: 'builder', SBORKA_STORE_PASSWORD_FILE: pw,
  });
}

const store = (c: Config): Promise<LogStore> => logStoreFor(c)!;
const id = (extra: Partial<LogId> = {}): LogId => ({ buildId: 'b-1', variantId: 'demo-x86_64', stepId: 'talk', ...extra });

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function remoteText(c: Config, which: LogId): Promise<string | undefined> {
  const s = await store(c);
  const log = await s.stat(which);
  return log ? (await s.read(which, log, 0, log.size)).toString('utf8') : undefined;
}

function localLog(c: Config, which: LogId): string {
  const file = stepLogPath(c.logDir, which.buildId, which.variantId, which.stepId);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return file;
}

describe('shipping a step log', () => {
  it('streams chunks while the log grows, completes at the end, and the local file stays', async () => {
    const a = host('a');
    const file = localLog(a, id());
    fs.writeFileSync(file, 'first line\n');
    const shipper = new LogShipper(store(a), id(), file, { logger: silentLogger, intervalMs: 50, chunkBytes: 4096 });
    // Live: the first line is in the store while the writer still writes.
    const early = await until('the first chunk', async () => ((await remoteText(a, id())) === 'first line\n' ? (await store(a)).stat(id()) : undefined));
    expect(early.complete).toBe(false);
    const big = `${'x'.repeat(10_000)}\n`;
    fs.appendFileSync(file, `second line\n${big}`);
    await shipper.finish();
    const log = (await (await store(a)).stat(id()))!;
    expect(log.complete).toBe(true);
    // 10 KB went in chunks of at most 4 KiB.
    expect(log.chunks.length).toBeGreaterThanOrEqual(4);
    expect(log.chunks.every((c) => c.size <= 4096)).toBe(true);
    expect(await remoteText(a, id())).toBe(fs.readFileSync(file, 'utf8'));
    expect(fs.readFileSync(file, 'utf8')).toBe(`first line\nsecond line\n${big}`);
    // A byte range across chunks.
    expect((await (await store(a)).read(id(), log, 5, 5000)).toString()).toBe(fs.readFileSync(file, 'utf8').slice(5, 5000));
  });

  it('a retry on another host keeps the earlier attempt\'s log and adds its own', async () => {
    const a = host('a');
    const b = host('b');
    const fa = localLog(a, id());
    fs.writeFileSync(fa, 'attempt 1 on a\n--- sborka: attempt 1 failed: boom\n');
    await new LogShipper(store(a), id(), fa, { logger: silentLogger }).finish();
    const fb = localLog(b, id());
    const shipper = new LogShipper(store(b), id(), fb, { logger: silentLogger });
    fs.writeFileSync(fb, '--- sborka: attempt 2\nattempt 2 on b\n');
    await shipper.finish();
    expect(await remoteText(b, id())).toBe('attempt 1 on a\n--- sborka: attempt 1 failed: boom\n--- sborka: attempt 2\nattempt 2 on b\n');
  });

  it('a new worker on the host of a killed one ships the lines the killed one never pushed', async () => {
    const a = host('a');
    const file = localLog(a, id());
    fs.writeFileSync(file, 'pushed\n');
    const s = await store(a);
    // What a worker killed after one push leaves: a chunk, the source it read, an offset.
    const chunk = await s.pushChunk(id(), Buffer.from('pushed\n'));
    await s.putManifest(id(), [chunk], false, JSON.stringify({ host: os.hostname(), path: file, ino: fs.statSync(file).ino, offset: 7 }));
    fs.appendFileSync(file, 'written after the last push, before the kill\n');
    const next = new LogShipper(store(a), id(), file, { logger: silentLogger });
    fs.appendFileSync(file, '--- sborka: attempt 2\n');
    await next.finish();
    expect(await remoteText(a, id())).toBe('pushed\nwritten after the last push, before the kill\n--- sborka: attempt 2\n');
  });

  it('runStep streams a failed step\'s log too, in the build owner\'s namespace', async () => {
    const a = host('a');
    const step = { id: 'fails', kind: 'exec' as const, params: { argv: ['sh', '-c', 'echo about to fail; exit 3'] }, retry: { maximumAttempts: 1, initialIntervalMs: 100 } };
    const input = { ...stepInput(step, { buildId: 'b-fail' }), owner: { kind: 'partner' as const, name: 'acme' } };
    await expect(new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(createActivities({ config: a, logger: silentLogger }).runStep, input)).rejects.toThrow();
    const which = id({ buildId: 'b-fail', stepId: 'fails', tenant: 'acme' });
    const text = await remoteText(host('b'), which);
    expect(text).toContain('about to fail');
    expect(text).toMatch(/attempt 1 failed/);
    expect(text).toBe(fs.readFileSync(stepLogPath(a.logDir, 'b-fail', 'demo-x86_64', 'fails'), 'utf8'));
    // A log this small travels in the manifest itself (one request: what cache hits cost).
    expect((await (await store(a)).stat(which))).toMatchObject({ complete: true, chunks: [], inline: expect.any(Buffer) });
    // Another tenant, or the shared namespace, has no such log.
    expect(await remoteText(a, { ...which, tenant: 'globex' })).toBeUndefined();
    expect(await remoteText(a, { ...which, tenant: undefined })).toBeUndefined();
  });
});

describe('reading a log from the store', () => {
  it('never serves a chunk that fails its digest', async () => {
    const a = host('a');
    const file = localLog(a, id());
    fs.writeFileSync(file, `${'the real text\n'.repeat(500)}`); // too long to travel inline: a chunk
    await new LogShipper(store(a), id(), file, { logger: silentLogger }).finish();
    const log = (await (await store(a)).stat(id()))!;
    expect(log.inline).toBeUndefined();
    const digest = log.chunks[0]!.digest.slice(7);
    fs.writeFileSync(path.join(regDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(0, 2), digest, 'data'), 'the fake text\n'.repeat(500));
    // A fresh process's reader (no chunk memo): host b.
    const b = await store(host('b'));
    await expect(b.read(id(), (await b.stat(id()))!, 0, log.size)).rejects.toThrow(LogStoreError);
    await expect(openStepLog(host('b'), id(), async () => undefined).then((l) => l!.read(0, 100))).rejects.toThrow(/not served/);
  });

  it('refuses a manifest under the tag that names another step, or chunks too large to hold', async () => {
    const a = host('a');
    const s = await store(a);
    const chunk = await s.pushChunk(id({ stepId: 'other' }), Buffer.from('other step\n'));
    await s.putManifest(id({ stepId: 'other' }), [chunk], true);
    // Copy the other step's manifest under this step's tag, as a confused or hostile writer could.
    const repo = s.repo(undefined);
    const other = (await s.oci.o.client.getManifest(repo, logTag(id({ stepId: 'other' }))))!;
    await s.oci.o.client.putManifest(repo, logTag(id()), 'application/vnd.oci.image.manifest.v1+json', other.body);
    await expect(s.stat(id())).rejects.toThrow(/another step's log/);
    const huge = JSON.parse(other.body.toString()) as { layers: Array<{ size: number }>; annotations: Record<string, string> };
    huge.layers[0]!.size = 1 << 30;
    huge.annotations['dev.sborka.log.step'] = 'talk';
    await s.oci.o.client.putManifest(repo, logTag(id()), 'application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify(huge)));
    await expect(s.stat(id())).rejects.toThrow(/not a sborka step log/);
  });

  it('finds a local log by its ids only, inside the log directory, never through a link that leaves it', () => {
    const a = host('a');
    const secret = path.join(dir, 'secret.txt');
    fs.writeFileSync(secret, 'not a log\n');
    const good = localLog(a, id());
    fs.writeFileSync(good, 'log\n');
    expect(localLogFile(a.logDir, id())).toBe(fs.realpathSync(good));
    // Ids that look like paths stay one segment each.
    for (const hostile of [{ stepId: '../../../secret' }, { variantId: '..', stepId: 'x' }, { buildId: secret }, { buildId: '/etc', variantId: '..', stepId: 'passwd' }]) {
      expect(localLogFile(a.logDir, id(hostile))).toBeUndefined();
    }
    // A link at the log's own path, or a linked build directory, to outside: refused.
    fs.symlinkSync(secret, localLog(a, id({ stepId: 'linked' })));
    expect(localLogFile(a.logDir, id({ stepId: 'linked' }))).toBeUndefined();
    const outside = path.join(dir, 'outside', 'demo-x86_64');
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'talk.log'), 'outside\n');
    fs.symlinkSync(path.dirname(outside), path.join(a.logDir, 'b-linked'));
    expect(localLogFile(a.logDir, id({ buildId: 'b-linked' }))).toBeUndefined();
  });
});

describe('gc of remote logs', () => {
  it('removes logs last written longer ago than max-age, in every namespace; keeps newer ones, one written since listing, and what is no log', async () => {
    const s = await store(host('a'));
    const put = async (which: LogId, text: string) => s.putManifest(which, [await s.pushChunk(which, Buffer.from(text))], true);
    await put(id({ stepId: 'old' }), 'old log\n');
    await put(id({ tenant: 'acme', stepId: 'old' }), 'partner log\n');
    // A tag in the logs repository that is not a step log (someone else's): never touched.
    const repo = s.repo(undefined);
    const foreign = (await s.oci.o.client.getManifest(repo, logTag(id({ stepId: 'old' }))))!;
    await s.oci.o.client.putManifest(repo, 'log-not-a-hash', 'application/vnd.oci.image.manifest.v1+json', foreign.body);
    const day = 86_400_000;
    // Now: nothing is a day old.
    expect(await gcRemoteLogs(s, { maxAgeMs: day })).toEqual({ removed: 0, freedBytes: 0, kept: 2 });
    // A dry run two days on names both and removes none.
    expect(await gcRemoteLogs(s, { maxAgeMs: day, now: Date.now() + 2 * day, dryRun: true })).toMatchObject({ removed: 2 });
    expect(await s.stat(id({ stepId: 'old' }))).toBeDefined();
    // A log a new chunk reached after it was listed is kept: its manifest is no longer the listed one.
    const listed = (await s.list(undefined)).find((l) => l.tag === logTag(id({ stepId: 'old' })))!;
    await put(id({ stepId: 'old' }), 'old log\nand a new line\n');
    expect(await s.remove(listed)).toBe(false);
    expect(await gcRemoteLogs(s, { maxAgeMs: day, now: Date.now() + 2 * day })).toEqual({ removed: 2, freedBytes: 'old log\nand a new line\n'.length + 'partner log\n'.length, kept: 0 });
    expect(await s.stat(id({ stepId: 'old' }))).toBeUndefined();
    expect(await s.stat(id({ tenant: 'acme', stepId: 'old' }))).toBeUndefined();
    expect(await s.oci.o.client.getManifest(repo, 'log-not-a-hash')).toBeDefined();
  });
});

describe('serving artifact bytes', () => {
  const collect = (s: NodeJS.ReadableStream) => new Promise<{ bytes: Buffer; error?: Error }>((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => resolve({ bytes: Buffer.concat(parts) }));
    s.on('error', (error) => resolve({ bytes: Buffer.concat(parts), error }));
  });

  it('sends a sound file whole, and never the whole of one whose bytes changed', async () => {
    const file = path.join(dir, 'image.raw');
    const content = Buffer.alloc(300_000, 7);
    fs.writeFileSync(file, content);
    const sha = createHash('sha256').update(content).digest('hex');
    expect((await collect(checkedStream(file, sha, content.length))).bytes.equals(content)).toBe(true);
    const bad = Buffer.from(content);
    bad[299_999] = 8;
    fs.writeFileSync(file, bad);
    const got = await collect(checkedStream(file, sha, content.length));
    expect(got.error?.message).toMatch(/not served/);
    expect(got.bytes.length).toBeLessThan(content.length);
  });
});
