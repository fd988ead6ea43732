// The remote step store on an OCI registry, as BuildKit's registry cache and ORAS artifacts
// do it: one artifact per entry in <prefix>/shared or <prefix>/tenants/<name>, tagged with
// the step key. Its config blob holds the store manifest (plus the sealed links and
// directories), each output file is a layer, and the OCI manifest is pushed last: the registry
// refuses a manifest whose blobs are missing, so a reader sees a whole entry or none.
// Large files go up in chunks; the session's location is remembered on disk, so a retried
// upload (another attempt, another process) asks the registry how far it got and goes on.
// Downloads stream through sha256 and are refused on any mismatch (see fetch).
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { Name } from '../plan/schemas';
import { OciClient, RegistryError } from './publish/oci-client';
import { StoreManifest } from './store';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const ENTRY_ARTIFACT = 'application/vnd.sborka.store.entry.v1';
const CONFIG_TYPE = 'application/vnd.sborka.store.entry.config.v1+json';
const FILE_TYPE = 'application/vnd.sborka.store.file.v1';
const LAST_USED = 'dev.sborka.last-used';
const KEY = /^[0-9a-f]{64}$/;
/** A config blob is a manifest of paths and digests: anything bigger is not ours. */
const MAX_CONFIG_BYTES = 64 << 20;

const Descriptor = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  size: z.number().int().min(0),
  annotations: z.record(z.string(), z.string()).optional(),
});
const OciEntry = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(OCI_MANIFEST),
  artifactType: z.literal(ENTRY_ARTIFACT).optional(),
  config: Descriptor.extend({ mediaType: z.literal(CONFIG_TYPE) }),
  layers: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).default({}),
});
type OciEntry = z.infer<typeof OciEntry>;
export const EntryConfig = z.object({ manifest: StoreManifest, links: z.record(z.string(), z.string()), dirs: z.array(z.string()) });
export type EntryConfig = z.infer<typeof EntryConfig>;

export type Fetched =
  | { state: 'absent' }
  | { state: 'bad'; reason: string; digest: string; badBlob?: string }
  | { state: 'ok'; config: EntryConfig; digest: string };

export interface RemoteEntryInfo {
  key: string;
  kind: string;
  bytes: number;
  lastUsedMs: number;
  /** The manifest's digest when listed: gc removes only that one (a touch makes a new one). */
  digest: string;
}

export interface OciStoreOptions {
  client: OciClient;
  /** Repository path prefix, e.g. sborka-store. */
  prefix: string;
  chunkBytes: number;
  /** Where upload sessions are remembered between attempts (local, per host). */
  stateDir: string;
  /** Called after each chunk (tests interrupt uploads with it). */
  onChunk?(digest: string, sent: number, size: number): void;
}

/** The registry holds a corrupt copy of one of the entry's blobs (see OciStore.quarantine). */
export class CorruptInRegistry extends Error {
  constructor(readonly digest: string) {
    super(`the registry holds a corrupt copy of blob ${digest} until its garbage-collect runs`);
    this.name = 'CorruptInRegistry';
  }
}

const corruptTag = (digest: string) => `corrupt-${digest.slice(7)}`;

export class OciStore {
  constructor(readonly o: OciStoreOptions) {
    if (!/^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/.test(o.prefix)) throw new Error(`store prefix ${JSON.stringify(o.prefix)} is not a repository path`);
  }

  repo(tenant: string | undefined): string {
    if (tenant === undefined) return `${this.o.prefix}/shared`;
    // Names are lower-case words; anything else could name another repository.
    if (!Name.safeParse(tenant).success || !/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(tenant)) throw new Error(`tenant name ${JSON.stringify(tenant)} is not a valid name`);
    return `${this.o.prefix}/tenants/${tenant}`;
  }

  describe(tenant: string | undefined, key: string): string {
    return `${this.repo(tenant)}:${tag(key)}`;
  }

  async manifestOf(tenant: string | undefined, key: string): Promise<{ entry: OciEntry; digest: string } | { bad: string; digest: string } | undefined> {
    const got = await this.o.client.getManifest(this.repo(tenant), tag(key));
    if (!got) return undefined;
    const digest = `sha256:${createHash('sha256').update(got.body).digest('hex')}`;
    try {
      return { entry: OciEntry.parse(JSON.parse(got.body.toString('utf8'))), digest };
    } catch (err) {
      return { bad: `the OCI manifest is not a store entry: ${(err as Error).message.split('\n')[0]}`, digest };
    }
  }

  async exists(tenant: string | undefined, key: string): Promise<boolean> {
    return (await this.o.client.getManifest(this.repo(tenant), tag(key))) !== undefined;
  }

  /** Uploads every file, then the config, then the manifest. */
  async push(tenant: string | undefined, outputsDir: string, config: EntryConfig): Promise<void> {
    const repo = this.repo(tenant);
    const key = tag(config.manifest.key);
    const done = new Set<string>();
    for (const f of config.manifest.outputs.files) {
      if (done.has(f.sha256)) continue;
      const digest = `sha256:${f.sha256}`;
      await this.uploadFile(repo, digest, f.size, path.join(outputsDir, f.path));
      await this.checkMarked(repo, digest, f.size);
      done.add(f.sha256);
    }
    const configBody = Buffer.from(JSON.stringify(config));
    const configDigest = `sha256:${createHash('sha256').update(configBody).digest('hex')}`;
    await fs.mkdir(this.o.stateDir, { recursive: true });
    const configFile = path.join(this.o.stateDir, `config-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(configFile, configBody);
    try {
      await this.o.client.pushBlob(repo, configDigest, configBody.length, configFile);
    } finally {
      await fs.rm(configFile, { force: true });
    }
    const now = new Date().toISOString();
    const manifest: OciEntry = {
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: ENTRY_ARTIFACT,
      config: { mediaType: CONFIG_TYPE, digest: configDigest, size: configBody.length },
      layers: config.manifest.outputs.files.map((f) => ({ mediaType: FILE_TYPE, digest: `sha256:${f.sha256}`, size: f.size, annotations: { 'org.opencontainers.image.title': f.path } })),
      annotations: { 'dev.sborka.key': key, 'dev.sborka.kind': config.manifest.kind, 'org.opencontainers.image.created': config.manifest.createdAt, [LAST_USED]: now },
    };
    await this.o.client.putManifest(repo, key, OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
  }

  /**
   * A blob once found corrupt is marked: the registry links an upload of the same digest to
   * its bad bytes until its garbage-collect runs. Read back in full; still bad, the push is refused.
   */
  private async checkMarked(repo: string, digest: string, size: number): Promise<void> {
    const marker = await this.o.client.getManifest(repo, corruptTag(digest));
    if (!marker) return;
    const stream = await this.o.client.blobStream(repo, digest);
    const sound = stream !== undefined && (await hashStream(stream, size)) === digest;
    if (!sound) throw new CorruptInRegistry(digest);
    const markerDigest = `sha256:${createHash('sha256').update(marker.body).digest('hex')}`;
    await this.o.client.deleteManifest(repo, markerDigest);
  }

  /** Chunked above the chunk size, resuming a session an earlier attempt left. */
  private async uploadFile(repo: string, digest: string, size: number, file: string): Promise<void> {
    const client = this.o.client;
    if (await client.blobExists(repo, digest)) return;
    if (size <= this.o.chunkBytes) {
      await client.pushBlob(repo, digest, size, file);
      return;
    }
    const stateFile = path.join(this.o.stateDir, 'uploads', `${createHash('sha256').update(repo).digest('hex').slice(0, 16)}-${digest.slice(7)}.json`);
    await fs.mkdir(path.dirname(stateFile), { recursive: true });
    const remember = (location: string) => fs.writeFile(stateFile, JSON.stringify({ location }));
    let location = await readLocation(stateFile);
    let offset = location === undefined ? undefined : await client.uploadOffset(repo, location);
    for (let failures = 0; ; ) {
      if (location === undefined || offset === undefined) {
        location = await client.startUpload(repo);
        offset = 0;
        await remember(location);
      }
      let at: number = offset;
      let loc: string = location;
      try {
        while (at < size) {
          const end: number = Math.min(size, at + this.o.chunkBytes) - 1;
          loc = await client.patchChunk(repo, loc, file, at, end);
          at = end + 1;
          await remember(loc);
          this.o.onChunk?.(digest, at, size);
        }
        await client.finishUpload(repo, loc, digest);
        break;
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.retryable || ++failures > 5 || this.o.client.aborted) throw err;
        // Ask the registry what it holds and go on from there; a forgotten session starts over.
        location = loc;
        offset = await client.uploadOffset(repo, loc).catch(() => undefined);
      }
    }
    await fs.rm(stateFile, { force: true });
  }

  /**
   * Downloads the entry's files into outputsDir, each streamed through sha256 and written
   * sparse (zero blocks are skipped). A manifest that disagrees with its config, a path that
   * leaves outputsDir, a digest or size mismatch: the entry is bad and nothing of it is used.
   */
  async fetch(tenant: string | undefined, key: string, outputsDir: string): Promise<Fetched> {
    const repo = this.repo(tenant);
    const found = await this.manifestOf(tenant, key);
    if (!found) return { state: 'absent' };
    const { digest } = found;
    if ('bad' in found) return { state: 'bad', reason: found.bad, digest };
    const { entry } = found;
    const bad = (reason: string, badBlob?: string): Fetched => ({ state: 'bad', reason, digest, ...(badBlob ? { badBlob } : {}) });
    if (entry.config.size > MAX_CONFIG_BYTES) return bad(`its config blob is ${entry.config.size} bytes`);
    const configText = await readBlob(this.o.client, repo, entry.config.digest, entry.config.size);
    if (configText === undefined) return { state: 'absent' };
    if (typeof configText !== 'string') return bad(`config blob: ${configText.problem}`, entry.config.digest);
    let config: EntryConfig;
    try {
      config = EntryConfig.parse(JSON.parse(configText));
    } catch (err) {
      return bad(`config blob is unreadable: ${(err as Error).message.split('\n')[0]}`);
    }
    const problem = shapeProblem(key, entry, config);
    if (problem) return bad(problem);
    for (const dir of config.dirs) await fs.mkdir(path.join(outputsDir, dir), { recursive: true });
    for (const f of config.manifest.outputs.files) {
      const target = path.join(outputsDir, f.path);
      await fs.mkdir(path.dirname(target), { recursive: true });
      const stream = await this.o.client.blobStream(repo, `sha256:${f.sha256}`);
      if (!stream) return bad(`blob of ${f.path} is missing`, `sha256:${f.sha256}`);
      const wrong = await writeChecked(stream, target, f.size, f.sha256);
      if (wrong) return bad(`${f.path}: ${wrong}`, `sha256:${f.sha256}`);
    }
    // Links last, so no file was written through one.
    for (const [link, targetOf] of Object.entries(config.links)) await fs.symlink(targetOf, path.join(outputsDir, link));
    return { state: 'ok', config, digest };
  }

  /** Takes a bad entry out of use: its manifest deleted, the bad blob unlinked and marked (checkMarked). */
  async quarantine(tenant: string | undefined, digest: string, badBlob?: string, reason = ''): Promise<void> {
    const repo = this.repo(tenant);
    await this.o.client.deleteManifest(repo, digest);
    if (!badBlob) return;
    await this.o.client.deleteBlob(repo, badBlob);
    const note = Buffer.from(JSON.stringify({ corrupt: badBlob, reason, at: new Date().toISOString() }));
    await fs.mkdir(this.o.stateDir, { recursive: true });
    const noteFile = path.join(this.o.stateDir, `note-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(noteFile, note);
    const noteDigest = `sha256:${createHash('sha256').update(note).digest('hex')}`;
    try {
      await this.o.client.pushBlob(repo, noteDigest, note.length, noteFile);
    } finally {
      await fs.rm(noteFile, { force: true });
    }
    const marker = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.sborka.store.corrupt.v1+json', digest: noteDigest, size: note.length }, layers: [] };
    await this.o.client.putManifest(repo, corruptTag(badBlob), OCI_MANIFEST, Buffer.from(JSON.stringify(marker)));
  }

  async list(tenant: string | undefined): Promise<RemoteEntryInfo[]> {
    const out: RemoteEntryInfo[] = [];
    for (const key of (await this.o.client.listTags(this.repo(tenant))).filter((t) => KEY.test(t)).sort()) {
      const found = await this.manifestOf(tenant, key);
      if (!found) continue; // removed meanwhile
      const bytes = 'entry' in found ? found.entry.config.size + found.entry.layers.reduce((s, l) => s + l.size, 0) : 0;
      const ann = 'entry' in found ? found.entry.annotations : {};
      const lastUsedMs = Date.parse(ann[LAST_USED] ?? ann['org.opencontainers.image.created'] ?? '') || 0;
      out.push({ key, kind: ann['dev.sborka.kind'] ?? 'unknown', bytes, lastUsedMs, digest: found.digest });
    }
    return out;
  }

  /** Records a use: the manifest again with a new last-used time, the old one deleted. */
  async touch(tenant: string | undefined, key: string, now = new Date()): Promise<void> {
    const found = await this.manifestOf(tenant, key);
    if (!found || !('entry' in found)) return;
    const next = { ...found.entry, annotations: { ...found.entry.annotations, [LAST_USED]: now.toISOString() } };
    const newDigest = await this.o.client.putManifest(this.repo(tenant), tag(key), OCI_MANIFEST, Buffer.from(JSON.stringify(next)));
    if (newDigest === found.digest) return;
    // A registry without deletes keeps the old one untagged (its garbage-collect --delete-untagged drops it).
    await this.o.client.deleteManifest(this.repo(tenant), found.digest).catch((err: unknown) => {
      if (!(err instanceof RegistryError && err.status === 405)) throw err;
    });
  }

  /** Removes the entry if its manifest is still the listed one (not touched since). */
  async remove(tenant: string | undefined, key: string, listedDigest: string): Promise<boolean> {
    const found = await this.manifestOf(tenant, key);
    if (!found || found.digest !== listedDigest) return false;
    return this.o.client.deleteManifest(this.repo(tenant), listedDigest);
  }

  /** Partners with a namespace in the registry. */
  async tenants(): Promise<string[]> {
    const prefix = `${this.o.prefix}/tenants/`;
    return (await this.o.client.listRepositories(this.o.prefix))
      .filter((r) => r.startsWith(prefix))
      .map((r) => r.slice(prefix.length))
      .filter((n) => Name.safeParse(n).success)
      .sort();
  }
}

export function tag(key: string): string {
  if (!KEY.test(key)) throw new Error(`store key must be 64 lower-case hex digits, got ${JSON.stringify(key.slice(0, 100))}`);
  return key;
}

/** Why the OCI manifest and the config it names do not describe one sound entry. */
function shapeProblem(key: string, entry: OciEntry, config: EntryConfig): string | undefined {
  const m = config.manifest;
  if (m.key !== key) return `its store manifest names key ${m.key}, not ${key}`;
  if (entry.layers.length !== m.outputs.files.length) return 'its layers and its store manifest list different files';
  for (const [i, f] of m.outputs.files.entries()) {
    const l = entry.layers[i]!;
    if (l.digest !== `sha256:${f.sha256}` || l.size !== f.size) return `layer ${i} is not ${f.path} of the store manifest`;
  }
  const all = [...m.outputs.files.map((f) => f.path), ...Object.keys(config.links), ...config.dirs];
  const unsafe = all.find((p) => !safeRelative(p));
  if (unsafe !== undefined) return `path ${JSON.stringify(unsafe.slice(0, 200))} leaves the outputs`;
  if (new Set(all).size !== all.length) return 'a path is listed twice';
  const links = Object.keys(config.links);
  const under = all.find((p) => links.some((l) => p.startsWith(`${l}/`)));
  if (under !== undefined) return `${under} lies under a symbolic link`;
  return undefined;
}

function safeRelative(p: string): boolean {
  return p.length > 0 && p.length <= 4096 && !p.includes('\0') && !p.startsWith('/') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

async function readLocation(file: string): Promise<string | undefined> {
  try {
    return z.object({ location: z.string().url() }).parse(JSON.parse(await fs.readFile(file, 'utf8'))).location;
  } catch {
    return undefined;
  }
}

async function readBlob(client: OciClient, repo: string, digest: string, size: number): Promise<string | { problem: string } | undefined> {
  const stream = await client.blobStream(repo, digest);
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > size) return (destroy(stream), { problem: `longer than its ${size} bytes` });
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  const got = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (got !== digest) return { problem: `has sha256 ${got}, not ${digest}` };
  return body.toString('utf8');
}

async function hashStream(stream: NodeJS.ReadableStream, size: number): Promise<string | undefined> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > size) return (destroy(stream), undefined);
    hash.update(c as Buffer);
  }
  return n === size ? `sha256:${hash.digest('hex')}` : undefined;
}

const ZERO = Buffer.alloc(1 << 20);

function isZero(b: Buffer): boolean {
  for (let at = 0; at < b.length; at += ZERO.length) {
    const part = b.subarray(at, Math.min(b.length, at + ZERO.length));
    if (part.compare(ZERO, 0, part.length) !== 0) return false;
  }
  return true;
}

/** Writes the stream to a new file (never through an existing one), sparse; why it is wrong, if it is. */
async function writeChecked(stream: NodeJS.ReadableStream, file: string, size: number, sha256: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  const handle = await fs.open(file, 'wx');
  let n = 0;
  try {
    for await (const c of stream) {
      const b = c as Buffer;
      if (n + b.length > size) return (destroy(stream), `longer than its ${size} bytes`);
      hash.update(b);
      if (!isZero(b)) await handle.write(b, 0, b.length, n);
      n += b.length;
    }
    await handle.truncate(n);
  } finally {
    await handle.close();
  }
  if (n !== size) return `${n} bytes arrived, the manifest says ${size}`;
  const got = hash.digest('hex');
  return got === sha256 ? undefined : `has sha256 ${got}, the manifest says ${sha256}`;
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?(): void }).destroy?.();
}
