// Step logs in the remote store (the OCI registry of store-oci.ts), so a log written on one
// host is read on any other. One artifact per step log, in the build owner's namespace
// (<entry repository>/logs, e.g. <prefix>/tenants/acme/logs), tagged log-<sha256 of the
// build, variant and step ids>. Each chunk of the log is a blob; the manifest lists the
// chunks in order and is pushed again after every new chunk, with "complete" set when the
// attempt ended. Why one manifest over numbered chunk artifacts: a tag moves atomically, so
// one GET tells a reader the log's size and where every byte lives, always a prefix of the
// log; chunks are content-addressed, so every byte read is checked against its digest; and
// nothing has to list tags. Read back with stat + read; a chunk that fails its digest is an
// error, never text.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/config';
import type { OciStore } from './store-oci';
import { openOciStore } from './store-remote';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const LOG_ARTIFACT = 'application/vnd.sborka.step-log.v1';
const LOG_CONFIG = 'application/vnd.sborka.step-log.config.v1+json';
export const LOG_CHUNK = 'application/vnd.sborka.step-log.chunk.v1';
const CONFIG_BODY = Buffer.from('{"sborka":"step-log","version":1}');
const CONFIG_DIGEST = `sha256:${createHash('sha256').update(CONFIG_BODY).digest('hex')}`;
const ANN = {
  build: 'dev.sborka.log.build', variant: 'dev.sborka.log.variant', step: 'dev.sborka.log.step',
  complete: 'dev.sborka.log.complete', source: 'dev.sborka.log.source', updated: 'dev.sborka.log.updated',
  inline: 'dev.sborka.log.inline',
} as const;
/** A whole log this small (a cache hit's one line) travels in the manifest itself: one request, no blob. */
export const MAX_INLINE_LOG = 4096;
/** Bounds what a reader takes from the registry: a chunk is read into memory whole. */
export const MAX_LOG_CHUNK = 8 << 20;
const MAX_CHUNKS = 100_000;

export interface LogId {
  /** The build owner's partner namespace; absent for the shared one. */
  tenant?: string;
  buildId: string;
  variantId: string;
  stepId: string;
}

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const Chunk = z.object({ mediaType: z.literal(LOG_CHUNK), digest: Digest, size: z.number().int().min(1).max(MAX_LOG_CHUNK) });
export type LogChunk = z.infer<typeof Chunk>;
const LogManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(OCI_MANIFEST),
  artifactType: z.literal(LOG_ARTIFACT),
  config: z.object({ mediaType: z.literal(LOG_CONFIG), digest: Digest, size: z.number().int().min(0) }),
  layers: z.array(Chunk).max(MAX_CHUNKS),
  annotations: z.record(z.string(), z.string()),
});

const LOG_TAG = /^log-[0-9a-f]{64}$/;

function parsedLog(body: Buffer) {
  try {
    return LogManifest.safeParse(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
}

export interface RemoteLogInfo { tenant?: string; tag: string; digest: string; bytes: number; updatedMs: number; buildId: string }

export interface RemoteLog {
  size: number;
  /** The last attempt that wrote it has ended (a later attempt may add to it). */
  complete: boolean;
  chunks: LogChunk[];
  /** The whole log, when it is small enough to travel in the manifest (then there are no chunks). */
  inline?: Buffer;
  /** Where its writer read it from (log-ship.ts), to go on after a restart on the same host. */
  source?: string;
}

export class LogStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogStoreError';
  }
}

export function logTag(id: LogId): string {
  return `log-${createHash('sha256').update(JSON.stringify([id.buildId, id.variantId, id.stepId])).digest('hex')}`;
}

/** Chunks read this process, by repository and digest (checked when they came in). */
class ChunkMemo {
  private readonly map = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(k: string): Buffer | undefined {
    const b = this.map.get(k);
    if (b) {
      this.map.delete(k); // most recently used last
      this.map.set(k, b);
    }
    return b;
  }
  set(k: string, b: Buffer): void {
    if (this.map.has(k)) return;
    this.map.set(k, b);
    this.bytes += b.length;
    for (const [old, ob] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(old);
      this.bytes -= ob.length;
    }
  }
}

export class LogStore {
  private readonly configured = new Set<string>();
  private readonly memo = new ChunkMemo(32 << 20);

  constructor(readonly oci: OciStore) {}

  /** The owner's entry repository (its name checks apply), /logs. */
  repo(tenant: string | undefined): string {
    return `${this.oci.repo(tenant)}/logs`;
  }

  describe(id: LogId): string {
    return `${this.repo(id.tenant)}:${logTag(id)}`;
  }

  /** The log as the registry holds it now, or undefined when there is none. */
  async stat(id: LogId): Promise<RemoteLog | undefined> {
    const got = await this.oci.o.client.getManifest(this.repo(id.tenant), logTag(id));
    if (!got) return undefined;
    let m: z.infer<typeof LogManifest>;
    try {
      m = LogManifest.parse(JSON.parse(got.body.toString('utf8')));
    } catch (err) {
      throw new LogStoreError(`${this.describe(id)} is not a sborka step log: ${(err as Error).message.split('\n')[0]}`);
    }
    const a = m.annotations;
    // A manifest copied under another log's tag is not that log.
    if (a[ANN.build] !== id.buildId || a[ANN.variant] !== id.variantId || a[ANN.step] !== id.stepId) {
      throw new LogStoreError(`${this.describe(id)} names another step's log`);
    }
    const inlineText = a[ANN.inline];
    const inline = inlineText === undefined ? undefined : Buffer.from(inlineText, 'base64');
    if (inline && (inline.length > MAX_INLINE_LOG || m.layers.length > 0)) throw new LogStoreError(`${this.describe(id)} holds an inline log of ${inline.length} bytes beside ${m.layers.length} chunks`);
    const size = inline ? inline.length : m.layers.reduce((s, c) => s + c.size, 0);
    return { size, complete: a[ANN.complete] === 'true', chunks: m.layers, ...(inline ? { inline } : {}), ...(a[ANN.source] ? { source: a[ANN.source] } : {}) };
  }

  /** Bytes [start, end) of the log as `log` describes it, every chunk checked against its digest. */
  async read(id: LogId, log: RemoteLog, start: number, end: number): Promise<Buffer> {
    if (log.inline) return log.inline.subarray(start, Math.max(start, end));
    const parts: Buffer[] = [];
    let at = 0;
    for (const c of log.chunks) {
      const next = at + c.size;
      if (next > start && at < end) {
        const bytes = await this.chunk(id, c);
        parts.push(bytes.subarray(Math.max(0, start - at), Math.min(c.size, end - at)));
      }
      at = next;
      if (at >= end) break;
    }
    return Buffer.concat(parts);
  }

  private async chunk(id: LogId, c: LogChunk): Promise<Buffer> {
    const repo = this.repo(id.tenant);
    const memoKey = `${repo}@${c.digest}`;
    const known = this.memo.get(memoKey);
    if (known) return known;
    const stream = await this.oci.o.client.blobStream(repo, c.digest);
    if (!stream) throw new LogStoreError(`${this.describe(id)}: chunk ${c.digest} is missing from the registry`);
    const parts: Buffer[] = [];
    let n = 0;
    for await (const piece of stream) {
      n += (piece as Buffer).length;
      if (n > c.size) {
        (stream as NodeJS.ReadableStream & { destroy?(): void }).destroy?.();
        throw new LogStoreError(`${this.describe(id)}: chunk ${c.digest} is longer than its ${c.size} bytes`);
      }
      parts.push(piece as Buffer);
    }
    const bytes = Buffer.concat(parts);
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== c.digest || bytes.length !== c.size) throw new LogStoreError(`${this.describe(id)}: chunk ${c.digest} arrived as ${bytes.length} bytes with ${got}; not served`);
    this.memo.set(memoKey, bytes);
    return bytes;
  }

  /** Uploads one chunk (a blob; nothing points at it until putManifest). */
  async pushChunk(id: LogId, bytes: Buffer): Promise<LogChunk> {
    if (bytes.length === 0 || bytes.length > MAX_LOG_CHUNK) throw new Error(`a log chunk is 1 to ${MAX_LOG_CHUNK} bytes, not ${bytes.length}`);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await this.pushBuffer(this.repo(id.tenant), digest, bytes);
    return { mediaType: LOG_CHUNK, digest, size: bytes.length };
  }

  /** Points the log's tag at these chunks. */
  async putManifest(id: LogId, chunks: readonly LogChunk[], complete: boolean, source?: string, inline?: Buffer): Promise<void> {
    if (inline && (inline.length > MAX_INLINE_LOG || chunks.length > 0)) throw new Error(`an inline log is at most ${MAX_INLINE_LOG} bytes and has no chunks`);
    const repo = this.repo(id.tenant);
    if (!this.configured.has(repo)) {
      await this.pushBuffer(repo, CONFIG_DIGEST, CONFIG_BODY);
      this.configured.add(repo);
    }
    const manifest: z.infer<typeof LogManifest> = {
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: LOG_ARTIFACT,
      config: { mediaType: LOG_CONFIG, digest: CONFIG_DIGEST, size: CONFIG_BODY.length },
      layers: [...chunks],
      annotations: {
        [ANN.build]: id.buildId, [ANN.variant]: id.variantId, [ANN.step]: id.stepId,
        [ANN.complete]: String(complete), [ANN.updated]: new Date().toISOString(), ...(source ? { [ANN.source]: source } : {}),
        ...(inline ? { [ANN.inline]: inline.toString('base64') } : {}),
      },
    };
    await this.oci.o.client.putManifest(repo, logTag(id), OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
  }

  /** Every step log in the owner's namespace, for gc: its tag, manifest digest, bytes and last write. */
  async list(tenant: string | undefined): Promise<RemoteLogInfo[]> {
    const repo = this.repo(tenant);
    const out: RemoteLogInfo[] = [];
    for (const t of (await this.oci.o.client.listTags(repo)).filter((x) => LOG_TAG.test(x)).sort()) {
      const got = await this.oci.o.client.getManifest(repo, t);
      if (!got?.digest) continue; // removed meanwhile
      const m = parsedLog(got.body);
      // Not a log this code wrote: left to the registry's owner, never guessed at.
      if (!m?.success) continue;
      const a = m.data.annotations;
      const bytes = m.data.layers.reduce((n, c) => n + c.size, 0);
      out.push({ ...(tenant === undefined ? {} : { tenant }), tag: t, digest: got.digest, bytes, updatedMs: Date.parse(a[ANN.updated] ?? '') || 0, buildId: a[ANN.build] ?? '' });
    }
    return out;
  }

  /** Partners whose namespace holds logs (a tenant may have logs and no entries yet). */
  async tenants(): Promise<string[]> {
    const found = /^tenants\/([^/]+)\/logs$/;
    const prefix = `${this.oci.o.prefix}/`;
    return (await this.oci.o.client.listRepositories(this.oci.o.prefix))
      .filter((r) => r.startsWith(prefix))
      .map((r) => found.exec(r.slice(prefix.length))?.[1])
      .filter((t): t is string => t !== undefined && this.validTenant(t))
      .sort();
  }

  /** The entry repository's own name check (it throws on a name that could name another repository). */
  private validTenant(t: string): boolean {
    try {
      this.oci.repo(t);
      return true;
    } catch {
      return false;
    }
  }

  /** Removes a listed log if its manifest is still the listed one (no chunk was added since). */
  async remove(info: RemoteLogInfo): Promise<boolean> {
    const repo = this.repo(info.tenant);
    const got = await this.oci.o.client.getManifest(repo, info.tag);
    if (!got || got.digest !== info.digest) return false;
    return this.oci.o.client.deleteManifest(repo, info.digest);
  }

  /** pushBlob takes a file: the bytes go through one in the state directory. */
  private async pushBuffer(repo: string, digest: string, bytes: Buffer): Promise<void> {
    const dir = path.join(this.oci.o.stateDir, 'log-chunks');
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(file, bytes);
    try {
      await this.oci.o.client.pushBlob(repo, digest, bytes.length, file);
    } finally {
      await fs.rm(file, { force: true });
    }
  }
}

const stores = new Map<string, Promise<LogStore>>();

/** The process's log store for this configuration's remote store; undefined without one. */
export function logStoreFor(config: Config): Promise<LogStore> | undefined {
  const remote = config.remoteStore;
  if (!remote) return undefined;
  const id = `${config.stateDir}\0${remote.url}`;
  let found = stores.get(id);
  if (!found) {
    found = openOciStore(config).then((oci) => new LogStore(oci!));
    // A failed open (credentials unreadable) is tried again next time.
    found.catch(() => stores.delete(id));
    stores.set(id, found);
  }
  return found;
}

/** The registry client of that log store, for reading entry manifests (the API's artifact list). */
export async function ociStoreFor(config: Config): Promise<OciStore | undefined> {
  return (await logStoreFor(config))?.oci;
}

/** Closes the registry connections of every log store this process opened (tests, shutdown). */
export async function closeLogStores(): Promise<void> {
  const all = [...stores.values()];
  stores.clear();
  await Promise.all(all.map((s) => s.then((l) => l.oci.o.client.close(), () => undefined)));
}
