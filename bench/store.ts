// The remote step store on loopback, printed as JSON:
//  - a 2 GiB sparse disk image (64 MiB of data in it) pushed to Debian's docker-registry
//    through the store and pulled on an empty host, MB/s of the image's size; baseline: the
//    same file as the one layer of an OCI layout, `skopeo copy` into a second, fresh registry
//    and back, as a user would move it by hand;
//  - a 50-step build rebuilt warm with the remote store: the worker's cache warm, and an empty
//    host whose every hit comes from the registry; baseline: the same rebuild on the local store.
// Run: npx tsc -p . && nice -n 10 node build/bench/store.js
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { StepStore } from '../activities/store';
import { sha256File } from '../activities/store-files';
import { openOciStore, openStepStore, remoteFor } from '../activities/store-remote';
import { EntryConfig } from '../activities/store-oci';
import { loadConfig, type Config } from '../config/config';
import { parsePlan, type BuildPlan } from '../plan/plan';
import { buildResult, startBuild } from '../service/builds';
import { connectClient } from '../service/temporal-connection';
import { stopEmbeddedServer } from '../service/temporal-server';
import { defaultQueues, startWorkers } from '../service/worker';

const IMAGE_BYTES = 2 * 2 ** 30;
const DATA_BYTES = 64 * 2 ** 20;
const MB = 1e6;
const logger = pino({ level: 'warn' });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function registry(dir: string): Promise<{ host: string; stop(): void }> {
  const port = await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'registry.yml');
  fs.writeFileSync(configFile, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'));
  const child = spawn('docker-registry', ['serve', configFile], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => http.get({ host: '127.0.0.1', port, path: '/v2/' }, (r) => (r.resume(), resolve(r.statusCode === 200))).on('error', () => resolve(false)));
    if (ok) break;
    if (i > 100) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/** A sparse image: 64 MiB of random data in 1 MiB pieces spread over 2 GiB of holes. */
function makeImage(file: string): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, IMAGE_BYTES);
  const pieces = DATA_BYTES / 2 ** 20;
  for (let i = 0; i < pieces; i++) fs.writeSync(fd, randomBytes(2 ** 20), 0, 2 ** 20, Math.floor((i * IMAGE_BYTES) / pieces));
  fs.closeSync(fd);
}

const time = async (op: () => Promise<unknown>): Promise<number> => {
  execFileSync('sync'); // every phase starts with no dirty pages of the one before
  const t0 = performance.now();
  await op();
  return (performance.now() - t0) / 1000;
};
const rate = (s: number) => Math.round((IMAGE_BYTES / MB / s) * 10) / 10;

async function transfer(work: string): Promise<Record<string, unknown>> {
  const ours = await registry(path.join(work, 'reg-store'));
  const theirs = await registry(path.join(work, 'reg-skopeo'));
  try {
    const env = (name: string) => ({ SBORKA_STATE_DIR: path.join(work, name), SBORKA_STORE_URL: `oci+http://${ours.host}/bench`, SBORKA_STORE_CACHE_BYTES: String(8 * 2 ** 30) });
    const a = loadConfig(env('host-a'));
    const local = new StepStore(a.storeDir);
    const staging = await local.createStaging();
    makeImage(path.join(staging.outputsDir, 'disk.img'));
    const entry = await local.commit(staging, { key: 'b'.repeat(64), kind: 'bench' });
    const oci = (await openOciStore(a))!;
    const uploadS = await time(() => oci.push(undefined, entry.outputsDir, EntryConfig.parse({ manifest: entry.manifest, links: {}, dirs: [] })));
    await oci.o.client.close();
    const b = loadConfig(env('host-b'));
    const pulled = openStepStore(b, logger);
    const downloadS = await time(async () => {
      if (!(await pulled.lookup(entry.key))) throw new Error('the pulled entry is missing');
    });
    await remoteFor(b)!.settled();
    const pulledFile = path.join(pulled.entryDir(entry.key), 'outputs', 'disk.img');
    const pulledDiskBytes = fs.statSync(pulledFile).blocks * 512;

    // Baseline: the same file as an OCI layout's layer, skopeo copy up and back down.
    const layout = path.join(work, 'layout');
    const digest = await sha256File(path.join(entry.outputsDir, 'disk.img'));
    fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    fs.linkSync(path.join(entry.outputsDir, 'disk.img'), path.join(layout, 'blobs', 'sha256', digest));
    const put = (o: unknown) => {
      const body = Buffer.from(JSON.stringify(o));
      const hex = createHash('sha256').update(body).digest('hex');
      fs.writeFileSync(path.join(layout, 'blobs', 'sha256', hex), body);
      return { digest: `sha256:${hex}`, size: body.length };
    };
    const config = put({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${digest}`] } });
    const manifest = put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${digest}`, size: IMAGE_BYTES }] });
    fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
    const skopeo = (...args: string[]) => execFileSync('skopeo', ['--insecure-policy', 'copy', '--quiet', ...args], { stdio: 'pipe' });
    // The same bytes as ours: --preserve-digests keeps skopeo from gzipping the layer on the way.
    const skopeoUpS = await time(async () => skopeo('--preserve-digests', '--dest-tls-verify=false', `oci:${layout}`, `docker://${theirs.host}/bench/disk:1`));
    const skopeoDownS = await time(async () => skopeo('--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${theirs.host}/bench/disk:1`, `oci:${path.join(work, 'layout-back')}:disk`));
    return {
      imageBytes: IMAGE_BYTES, dataBytes: DATA_BYTES,
      store: { uploadSeconds: round(uploadS), uploadMBps: rate(uploadS), downloadSeconds: round(downloadS), downloadMBps: rate(downloadS), pulledFileDiskBytes: pulledDiskBytes, downloadIncludes: 'sha256 of every byte, sparse write, local commit with fsync' },
      baseline: { tool: 'skopeo copy --preserve-digests oci:<layout> docker://127.0.0.1 (and back): the same uncompressed bytes', uploadSeconds: round(skopeoUpS), uploadMBps: rate(skopeoUpS), downloadSeconds: round(skopeoDownS), downloadMBps: rate(skopeoDownS) },
    };
  } finally {
    ours.stop();
    theirs.stop();
  }
}

function chainPlan(version: string): BuildPlan {
  return parsePlan({
    version: 1, product: 'bench-store', toolchain: { name: 'core', version }, policy: { maxParallelSteps: 4 },
    variants: [{ id: 'v0', product: 'bench-store', arch: 'x86_64', taskQueue: 'build-x86_64', steps: Array.from({ length: 50 }, (_, i) => ({ id: `s${i}`, kind: 'noop', params: {}, cacheable: true, needs: i === 0 ? [] : [`s${i - 1}`] })) }],
  });
}

async function rebuild(work: string): Promise<Record<string, unknown>> {
  const reg = await registry(path.join(work, 'reg-rebuild'));
  const base = { ...process.env, SBORKA_STATE_DIR: path.join(work, 'temporal'), SBORKA_TEMPORAL_PORT: process.env.SBORKA_BENCH_PORT ?? '17321', SBORKA_TEMPORAL_UI_PORT: '17322', TEMPORAL_ADDRESS: '' };
  const hostConfig = (name: string, remote: boolean): Config => loadConfig({ ...base, SBORKA_STORE_DIR: path.join(work, name, 'store'), SBORKA_LOG_DIR: path.join(work, name, 'logs'), SBORKA_STORE_URL: remote ? `oci+http://${reg.host}/bench` : '' });
  const first = hostConfig('host-a', true);
  const client = await connectClient(first, logger);
  const build = async (config: Config, version: string) => {
    const workers = await startWorkers({ config, logger, client, queues: defaultQueues() });
    try {
      const t0 = performance.now();
      const result = await buildResult(client, (await startBuild(client, chainPlan(version))).workflowId);
      const ms = performance.now() - t0;
      await remoteFor(config)?.settled();
      return { ms: Math.round(ms), cached: result.variants[0]?.result?.steps.filter((s) => s.cached).length ?? 0 };
    } finally {
      workers.shutdown();
      await workers.done;
    }
  };
  try {
    await build(hostConfig('warmup', false), 'warmup'); // the workflow bundle and the server warm
    const v = `v${Date.now()}`;
    const cold = await build(first, v);
    const warmCache = await build(first, v);
    const emptyHost = await build(hostConfig('host-b', true), v);
    const lv = `l${Date.now()}`;
    const localCold = await build(hostConfig('host-local', false), lv);
    const localWarm = await build(hostConfig('host-local', false), lv);
    return {
      steps: 50, targetWarmMs: 2000,
      remote: { coldMs: cold.ms, warmCacheMs: warmCache.ms, warmCacheCached: warmCache.cached, emptyHostMs: emptyHost.ms, emptyHostCached: emptyHost.cached },
      baseline: { what: 'the same cold build and warm rebuild on the local store alone', coldMs: localCold.ms, warmMs: localWarm.ms, cached: localWarm.cached },
      met: warmCache.ms < 2000 && emptyHost.ms < 2000,
    };
  } finally {
    await client.connection.close();
    await stopEmbeddedServer(first);
    reg.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-store-'));
  try {
    const rebuilt = await rebuild(work);
    const moved = process.env.BENCH_SKIP_TRANSFER ? { skipped: true } : await transfer(work);
    process.stdout.write(`${JSON.stringify({ bench: 'store', machine: { cpus: os.cpus().length, node: process.version }, transfer: moved, warmRebuild: rebuilt }, null, 2)}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
