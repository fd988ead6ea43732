// The step store's contract against the local directory and against a real registry
// (Debian's docker-registry on 127.0.0.1, htpasswd auth), and what only the remote store has:
// manifest-last pushes, resumed chunked uploads, corruption in the registry, the LRU cache, gc.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { logsShipped } from '../../activities/log-ship';
import { StepStore, type Staging } from '../../activities/store';
import { LruCache } from '../../activities/store-cache';
import { gcRemoteStore } from '../../activities/store-gc';
import { EntryConfig, type OciStore } from '../../activities/store-oci';
import { openOciStore, openStepStore, remoteFor } from '../../activities/store-remote';
import { loadConfig, type Config } from '../../config/config';
import type { StepResult } from '../../plan/step-contract';
import { storeUsage } from '../../service/store-usage';
import { startFaultProxy, startRegistry, type Registry } from '../publish/helpers';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput } from './helpers';

const MiB = 1 << 20;
let regDir: string;
let registry: Registry;
let dir: string;
let prefixN = 0;
let prefix: string;

beforeAll(async () => {
  regDir = makeTmpDir('sborka-reg-');
  registry = await startRegistry(regDir, { builder: 'secret-pw' });
});
afterAll(async () => {
  await registry.stop();
  removeDir(regDir);
});
beforeEach(() => {
  dir = makeTmpDir();
  prefix = `sborka-store-${process.pid}-${++prefixN}`;
});
afterEach(async () => {
  // A cache hit ships its log in the background: let it finish before its state dir goes.
  await logsShipped();
  removeDir(dir);
});

/** A build host: its own state (cache, logs, upload sessions), the shared registry. */
function host(name: string, env: Record<string, string> = {}, registryHost = registry.host): Config {
  const pw = path.join(dir, 'store-password');
  fs.writeFileSync(pw, 'secret-pw\n');
  return loadConfig({
    SBORKA_STATE_DIR: path.join(dir, name), SBORKA_STORE_URL: `oci+http://${registryHost}/${prefix}`,
    SBORKA_STORE_USER: 'builder', SBORKA_STORE_PASSWORD_FILE: pw, SBORKA_STORE_CHUNK_BYTES: String(MiB), ...env,
  });
}

async function stage(store: StepStore, files: Record<string, string | Buffer>, links: Record<string, string> = {}): Promise<Staging> {
  const staging = await store.createStaging();
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(staging.outputsDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(staging.outputsDir, rel), content);
  }
  for (const [rel, target] of Object.entries(links)) fs.symlinkSync(target, path.join(staging.outputsDir, rel));
  return staging;
}

const key = (c: string) => c.repeat(64);
const blobFile = (digest: string) => path.join(regDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(0, 2), digest, 'data');

type Pair = { writer: StepStore; reader: StepStore; settle(): Promise<void> };
const backends: Array<[string, () => Pair]> = [
  ['the local directory', () => {
    const store = new StepStore(path.join(dir, 'store'), { logger: silentLogger });
    return { writer: store, reader: store, settle: async () => undefined };
  }],
  ['the registry (written on one host, read on another)', () => {
    const a = host('a');
    const b = host('b');
    return {
      writer: openStepStore(a, silentLogger), reader: openStepStore(b, silentLogger),
      settle: async () => Promise.all([remoteFor(a)!.settled(), remoteFor(b)!.settled()]).then(() => undefined),
    };
  }],
];

describe.each(backends)('store contract on %s', (_name, make) => {
  it('finds a committed entry with its files, directories, links and values', async () => {
    const { writer, reader, settle } = make();
    const staging = await stage(writer, { 'a/b.txt': 'bee', 'empty': '', 'img.raw': Buffer.concat([Buffer.alloc(3 * MiB), Buffer.from('tail')]) }, { 'link': 'a/b.txt' });
    fs.mkdirSync(path.join(staging.outputsDir, 'emptydir'));
    const committed = await writer.commit(staging, { key: key('a'), kind: 'exec', values: { n: 1 } });
    const found = await reader.lookup(key('a'));
    expect(found?.manifest.outputs).toEqual(committed.manifest.outputs);
    expect(fs.readFileSync(path.join(found!.outputsDir, 'a/b.txt'), 'utf8')).toBe('bee');
    expect(fs.readlinkSync(path.join(found!.outputsDir, 'link'))).toBe('a/b.txt');
    expect(fs.statSync(path.join(found!.outputsDir, 'emptydir')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(found!.outputsDir, 'img.raw')).subarray(3 * MiB).toString()).toBe('tail');
    // Pulled into the reader's cache: sound by its own checks, and found again without the registry.
    expect(await reader.verify(key('a'))).toBeUndefined();
    expect((await reader.lookup(key('a')))?.dir).toBe(found!.dir);
    await settle();
  });

  it('keeps tenants apart: tenant B never gets tenant A\'s entry, the shared store neither', async () => {
    const { writer, reader, settle } = make();
    await writer.forTenant('alpha').commit(await stage(writer, { 'secret.txt': 'alpha only' }), { key: key('b'), kind: 'exec' });
    expect(await reader.forTenant('beta').lookup(key('b'))).toBeUndefined();
    expect(await reader.lookup(key('b'))).toBeUndefined();
    expect(await reader.forTenant('beta').holds(key('b'))).toBe(false);
    expect((await reader.forTenant('alpha').lookup(key('b')))?.tenant).toBe('alpha');
    // A tenant sees the shared entries.
    await writer.commit(await stage(writer, { 'public.txt': 'all' }), { key: key('c'), kind: 'exec' });
    expect((await reader.forTenant('beta').lookup(key('c')))?.tenant).toBeUndefined();
    await settle();
  });

  it('refuses hostile keys and tenant names before touching anything', async () => {
    const { reader, writer } = make();
    for (const bad of ['..', '../' + 'a'.repeat(61), `${'a'.repeat(63)}/`, 'A'.repeat(64), 'a'.repeat(100_000), '']) {
      await expect(reader.lookup(bad)).rejects.toThrow(/64 lower-case hex/);
      await expect(writer.commit(await stage(writer, { x: 'x' }), { key: bad, kind: 'exec' })).rejects.toThrow(/64 lower-case hex/);
    }
    for (const bad of ['../alpha', 'a/b', '..', 'x'.repeat(10_000), '']) expect(() => reader.forTenant(bad)).toThrow(/not a valid name/);
  });
});

describe('the remote store', () => {
  async function localEntry(config: Config, files: Record<string, string | Buffer>, k: string) {
    const plain = new StepStore(config.storeDir);
    const entry = await plain.commit(await stage(plain, files), { key: k, kind: 'exec' });
    return { entry, config: EntryConfig.parse({ manifest: entry.manifest, links: {}, dirs: [] }) };
  }

  it('never shows a half-pushed entry, and a retried push resumes the interrupted chunked upload', async () => {
    const a = host('a');
    const big = randomBytes(6 * MiB);
    const { entry, config } = await localEntry(a, { 'big.bin': big, 'small.txt': 'small' }, key('d'));
    const abort = new AbortController();
    const first = await openOciStore(a, { signal: abort.signal, onChunk: (_d, sent) => sent >= 2 * MiB && abort.abort(new Error('worker killed')) });
    await expect(first!.push(undefined, entry.outputsDir, config)).rejects.toThrow();
    // Another host sees nothing of it: the manifest goes last.
    const b = openStepStore(host('b'), silentLogger);
    expect(await b.lookup(key('d'))).toBeUndefined();
    expect(await b.holds(key('d'))).toBe(false);

    const sent: number[] = [];
    const retry = await openOciStore(a, { onChunk: (_d, at) => sent.push(at) });
    await retry!.push(undefined, entry.outputsDir, config);
    expect(sent[0]).toBe(3 * MiB); // went on after the two chunks the registry had
    expect(sent).toEqual([3 * MiB, 4 * MiB, 5 * MiB, 6 * MiB]);
    const found = await b.lookup(key('d'));
    expect(fs.readFileSync(path.join(found!.outputsDir, 'big.bin')).equals(big)).toBe(true);
    await Promise.all([first!.o.client.close(), retry!.o.client.close()]);
  });

  it('resumes from the registry\'s offset when a chunk fails in the middle of an upload', async () => {
    let patches = 0;
    const proxy = await startFaultProxy(registry.port, [{ match: (req) => req.method === 'PATCH' && ++patches === 3, fail: 1 }]);
    try {
      const a = host('a', {}, proxy.host);
      const big = randomBytes(5 * MiB + 7);
      const { entry, config } = await localEntry(a, { 'big.bin': big }, key('e'));
      const oci = await openOciStore(a);
      await oci!.push(undefined, entry.outputsDir, config);
      await oci!.o.client.close();
      expect(proxy.injected).toBe(1);
      expect(patches).toBe(7); // six chunks, one of them twice: nothing before it was sent again
      const found = await openStepStore(host('b'), silentLogger).lookup(key('e'));
      expect(fs.readFileSync(path.join(found!.outputsDir, 'big.bin')).equals(big)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('detects a blob corrupted in the registry\'s storage, never uses it, and the step runs again', async () => {
    const counter = path.join(dir, 'runs');
    const step = { id: 'greet', kind: 'exec' as const, params: { argv: ['sh', '-c', `echo run >> '${counter}'; printf 'hello remote' > "$SBORKA_OUTPUT_DIR/out.txt"`] } };
    const runOn = (config: Config): Promise<StepResult> => new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(createActivities({ config, logger: silentLogger }).runStep, stepInput(step));
    const runs = () => fs.readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;

    const first = await runOn(host('a'));
    expect((await runOn(host('b'))).cached).toBe(true);
    expect(runs()).toBe(1);

    // b's hit records the use in the background by rewriting the manifest: settled first, so
    // that a late touch cannot put back the manifest c's quarantine deletes below.
    await Promise.all([remoteFor(host('a'))!.settled(), remoteFor(host('b'))!.settled()]);
    const digest = first.outputs.files[0]!.sha256;
    fs.writeFileSync(blobFile(digest), 'hellO remote'); // same size, other bytes
    const c = host('c');
    const again = await runOn(c);
    expect(again.cached).toBe(false);
    expect(runs()).toBe(2);
    expect((again.outputs.values.rebuiltAfterCorruption as unknown[])[0]).toMatchObject({ key: first.key, reason: expect.stringContaining(`has sha256`) });
    expect(fs.readFileSync(path.join(again.outputDir, 'out.txt'), 'utf8')).toBe('hello remote');
    const evidence = fs.readdirSync(path.join(c.storeDir, 'quarantine'));
    expect(evidence).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(c.storeDir, 'quarantine', evidence[0]!, 'quarantine.json'), 'utf8'))).toMatchObject({ badBlob: `sha256:${digest}` });
    // The registry links uploads of that digest to its bad bytes until its garbage-collect runs:
    // the blob is marked, so no host pushes an entry made of it meanwhile, and none is handed out.
    await remoteFor(c)!.settled();
    const d = await runOn(host('d'));
    expect(d.cached).toBe(false);
    expect(d.outputs.values.rebuiltAfterCorruption).toBeUndefined();
    expect(fs.readFileSync(path.join(d.outputDir, 'out.txt'), 'utf8')).toBe('hello remote');
    expect(runs()).toBe(3);
    // Once the registry holds the right bytes again (its garbage-collect, a re-upload), the next push clears the mark.
    fs.writeFileSync(blobFile(digest), 'hello remote');
    expect((await runOn(host('e'))).cached).toBe(false);
    expect((await runOn(host('f'))).cached).toBe(true);
    expect(runs()).toBe(4);
  });

  it('refuses a remote entry whose paths leave the outputs', async () => {
    const a = host('a');
    const { entry, config } = await localEntry(a, { 'x.txt': 'x' }, key('f'));
    const oci = await openOciStore(a);
    const hostile = { ...config, manifest: { ...config.manifest, outputs: { ...config.manifest.outputs, files: [{ ...config.manifest.outputs.files[0]!, path: '../../escaped.txt' }] } } };
    // The real blobs, then a manifest naming a path outside, pushed by hand as a hostile writer would.
    await oci!.push(undefined, entry.outputsDir, config);
    const fetchInto = path.join(dir, 'fetched', 'outputs');
    fs.mkdirSync(fetchInto, { recursive: true });
    const tampered = await pushConfig(oci!, hostile, key('f'));
    expect(tampered).toBe(true);
    const got = await oci!.fetch(undefined, key('f'), fetchInto);
    expect(got).toMatchObject({ state: 'bad', reason: expect.stringContaining('leaves the outputs') });
    expect(fs.existsSync(path.join(dir, 'escaped.txt'))).toBe(false);
    await oci!.o.client.close();
  });

  it('keeps the local cache under its byte budget, least recently used out first', async () => {
    const a = openStepStore(host('a'), silentLogger);
    for (const c of ['1', '2', '3']) await a.commit(await stage(a, { 'f.bin': Buffer.alloc(100_000, c) }), { key: key(c), kind: 'exec' });
    const bConfig = host('b', { SBORKA_STORE_CACHE_BYTES: '250000', SBORKA_STORE_CACHE_MIN_IDLE_MS: '0' });
    const b = openStepStore(bConfig, silentLogger);
    await b.lookup(key('1'));
    await b.lookup(key('2'));
    const aged = new Date(Date.now() - 60_000);
    fs.utimesSync(b.entryDir(key('2')), aged, aged);
    fs.utimesSync(b.entryDir(key('1')), new Date(aged.getTime() - 60_000), new Date(aged.getTime() - 60_000));
    await b.lookup(key('3'));
    expect((await b.list()).map((e) => e.key).sort()).toEqual([key('2'), key('3')]);
    // Gone from the cache, not from the store.
    expect(await b.lookup(key('1'))).toBeDefined();
    expect((await b.list()).map((e) => e.key).sort()).toEqual([key('1'), key('3')]);
    await remoteFor(bConfig)!.settled();
    await remoteFor(host('a'))!.settled();
  });

  it('LruCache on its own: over the budget it drops the oldest, never one used within minIdle', async () => {
    const store = new StepStore(path.join(dir, 'cache'));
    for (const c of ['1', '2']) await store.commit(await stage(store, { 'f.bin': Buffer.alloc(1000) }), { key: key(c), kind: 'exec' });
    const cache = new LruCache(store, 1500, 10 * 60_000);
    expect(await cache.added(1000)).toMatchObject({ removed: [] }); // both just used: kept over budget
    const old = new Date(Date.now() - 3600_000);
    fs.utimesSync(store.entryDir(key('1')), old, old);
    expect((await cache.evict()).removed.map((r) => r.key)).toEqual([key('1')]);
  });

  it('gc by age and size over the registry, every tenant, never a key a running build uses; usage per tenant', async () => {
    const aConfig = host('a');
    const a = openStepStore(aConfig, silentLogger);
    for (const c of ['1', '2', '3']) await a.commit(await stage(a, { 'f.bin': Buffer.alloc(1000, c) }), { key: key(c), kind: 'exec' });
    await a.forTenant('alpha').commit(await stage(a, { 'f.bin': Buffer.alloc(500, 't') }), { key: key('4'), kind: 'exec' });
    const oci = (await openOciStore(aConfig))!;
    const old = new Date(Date.now() - 30 * 86_400_000);
    for (const k of [key('1'), key('2')]) await oci.touch(undefined, k, old);
    await oci.touch('alpha', key('4'), old);

    const usage = await storeUsage(new StepStore(aConfig.storeDir), oci);
    expect(usage.remote?.map((u) => [u.tenant, u.entries])).toEqual([[undefined, 3], ['alpha', 1]]);
    expect(usage.remote?.[1]?.bytes).toBeGreaterThan(500);

    const dry = await gcRemoteStore(oci, { maxAgeMs: 86_400_000, protectedKeys: new Set([key('2')]), dryRun: true });
    expect(dry.removed.map((r) => r.key).sort()).toEqual([key('1'), key('4')]);
    expect(await oci.exists(undefined, key('1'))).toBe(true);
    const result = await gcRemoteStore(oci, { maxAgeMs: 86_400_000, protectedKeys: new Set([key('2')]) });
    expect(result.removed.map((r) => [r.key, r.tenant])).toEqual([[key('1'), undefined], [key('4'), 'alpha']]);
    expect(await oci.exists(undefined, key('1'))).toBe(false);
    expect(await oci.exists(undefined, key('2'))).toBe(true);
    expect(await openStepStore(host('b'), silentLogger).lookup(key('1'))).toBeUndefined();
    // By size: the least recently used goes first, the protected one stays.
    const bySize = await gcRemoteStore(oci, { maxTotalBytes: 1500, minIdleMs: 0, protectedKeys: new Set([key('2')]) });
    expect(bySize.removed.map((r) => r.key)).toEqual([key('3')]);
    await remoteFor(aConfig)!.settled();
    await oci.o.client.close();
  });
});

/** Pushes a manifest for `config` as it is (a hostile writer's): its config blob, the same layers. */
async function pushConfig(oci: OciStore, config: EntryConfig, k: string): Promise<boolean> {
  const repo = oci.repo(undefined);
  const found = await oci.manifestOf(undefined, k);
  if (!found || !('entry' in found)) return false;
  const body = Buffer.from(JSON.stringify(config));
  const file = path.join(dir, 'hostile-config');
  fs.writeFileSync(file, body);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  await oci.o.client.pushBlob(repo, digest, body.length, file);
  const manifest = { ...found.entry, config: { ...found.entry.config, digest, size: body.length } };
  await oci.o.client.putManifest(repo, k, 'application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify(manifest)));
  return true;
}
