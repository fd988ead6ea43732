// Puts the remote store (an OCI registry, store-oci.ts) behind StepStore: a local miss pulls
// the entry from the registry into the local directory, which is this worker's bounded cache
// (store-cache.ts); a commit pushes the entry out, manifest last. A bad remote entry is never
// used: its download goes to local quarantine as evidence, its manifest is deleted, the step
// runs again. Chosen by config: SBORKA_STORE_URL set, else the local directory alone.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/config';
import { RegistryConfig } from '../publish/config-schema';
import { registryCredentials } from './publish/config';
import { OciClient } from './publish/oci-client';
import { StepStore, type LookupResult, type RemoteStore, type StoreEntry } from './store';
import { LruCache } from './store-cache';
import { CorruptInRegistry, OciStore, type Fetched } from './store-oci';
import { parseSeal, SEAL_FILE } from './store-seal';

export interface RemoteCacheOptions {
  oci: () => Promise<OciStore>;
  cache?: LruCache;
  logger: Logger;
  /** A local hit refreshes the remote last-used time at most this often per entry. */
  touchEveryMs?: number;
}

export class RemoteCache implements RemoteStore {
  /** Entries whose push failed: the next local hit pushes them. */
  private readonly unpushed = new Set<string>();
  private readonly touchedAt = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly o: RemoteCacheOptions) {}

  async pull(local: StepStore, key: string, quarantine: boolean): Promise<LookupResult> {
    const oci = await this.o.oci();
    const staging = await local.createStaging();
    let got: Fetched;
    try {
      got = await oci.fetch(local.tenant, key, staging.outputsDir);
    } catch (err) {
      await local.discard(staging);
      throw err;
    }
    if (got.state === 'absent' || (got.state === 'bad' && !quarantine)) {
      await local.discard(staging);
      return { quarantined: [] };
    }
    if (got.state === 'bad') {
      const movedTo = await this.quarantine(oci, local, key, got, staging.dir);
      return { quarantined: [{ key, reason: `remote entry ${oci.describe(local.tenant, key)}: ${got.reason}`, movedTo }] };
    }
    const m = got.config.manifest;
    const digests = Object.fromEntries(m.outputs.files.map((f) => [f.path, f.sha256]));
    const entry = await local.commit(staging, { key, kind: m.kind, values: m.outputs.values, digests, fromRemote: true });
    this.touchedAt.set(id(local, key), Date.now());
    this.background(() => oci.touch(local.tenant, key));
    await this.o.cache?.added(bytesOf(entry));
    return { entry, quarantined: [] };
  }

  async push(local: StepStore, entry: StoreEntry): Promise<void> {
    const oci = await this.o.oci();
    const seal = parseSeal(await fs.readFile(path.join(entry.dir, SEAL_FILE), 'utf8'));
    try {
      await oci.push(local.tenant, entry.outputsDir, { manifest: entry.manifest, links: seal.links, dirs: seal.dirs }).catch((err: unknown) => {
        // Not the step's failure: its outputs are sound here; other hosts build it until the registry is cleaned.
        if (!(err instanceof CorruptInRegistry)) throw err;
        this.o.logger.warn({ key: entry.key, blob: err.digest }, `remote store: ${err.message}; entry kept local only`);
      });
      this.unpushed.delete(id(local, entry.key));
      this.touchedAt.set(id(local, entry.key), Date.now());
    } catch (err) {
      this.unpushed.add(id(local, entry.key));
      throw err;
    } finally {
      await this.o.cache?.added(bytesOf(entry));
    }
  }

  async holds(local: StepStore, key: string): Promise<boolean> {
    return (await this.o.oci()).exists(local.tenant, key);
  }

  async hit(local: StepStore, entry: StoreEntry): Promise<void> {
    const which = id(local, entry.key);
    if (this.unpushed.has(which)) return this.push(local, entry);
    const last = this.touchedAt.get(which);
    if (last !== undefined && Date.now() - last < (this.o.touchEveryMs ?? 3_600_000)) return;
    this.touchedAt.set(which, Date.now());
    // Off the hit's path: the use is recorded, or an entry the registry lacks is pushed.
    this.background(async () => {
      const oci = await this.o.oci();
      if (await oci.exists(local.tenant, entry.key)) await oci.touch(local.tenant, entry.key);
      else await this.push(local, entry);
    });
  }

  /** Waits for the background touches and pushes (tests, bench, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private background(op: () => Promise<unknown>): void {
    const p: Promise<void> = op()
      .then(() => undefined, (err: Error) => this.o.logger.warn({ err: err.message }, 'remote store: recording a use failed'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async quarantine(oci: OciStore, local: StepStore, key: string, got: Extract<Fetched, { state: 'bad' }>, stagingDir: string): Promise<string> {
    const at = new Date();
    await fs.mkdir(local.quarantineDir, { recursive: true });
    const movedTo = path.join(local.quarantineDir, `${key}-remote-${at.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`);
    await fs.rename(stagingDir, movedTo);
    const from = `${oci.describe(local.tenant, key)}@${got.digest}`;
    await fs.writeFile(path.join(movedTo, 'quarantine.json'), `${JSON.stringify({ key, reason: got.reason, at: at.toISOString(), from, badBlob: got.badBlob, pid: process.pid, host: os.hostname() }, null, 2)}\n`);
    await oci.quarantine(local.tenant, got.digest, got.badBlob, got.reason);
    this.o.logger.error({ key, reason: got.reason, from, movedTo, tenant: local.tenant }, 'remote store entry failed verification: removed from the registry, the step will run again');
    return movedTo;
  }
}

function id(local: StepStore, key: string): string {
  return `${local.tenant ?? ''}/${key}`;
}

function bytesOf(entry: StoreEntry): number {
  return entry.manifest.outputs.files.reduce((s, f) => s + f.size, 0);
}

/** oci://host[:port]/prefix or oci+http://…: the registry, the scheme and the repository prefix. */
export function parseStoreUrl(url: string): { registry: string; plainHttp: boolean; prefix: string } {
  const m = /^oci(\+http)?:\/\/([^/\s]+)\/(.+)$/.exec(url);
  if (!m) throw new Error(`SBORKA_STORE_URL ${JSON.stringify(url)} must be oci://host[:port]/prefix`);
  return { plainHttp: m[1] !== undefined, registry: m[2]!, prefix: m[3]! };
}

/** The registry client for the remote store, credentials read now (as publishing reads them). */
export async function openOciStore(config: Config, extra: { signal?: AbortSignal; onChunk?: (digest: string, sent: number, size: number) => void } = {}): Promise<OciStore | undefined> {
  const remote = config.remoteStore;
  if (!remote) return undefined;
  const { registry, plainHttp, prefix } = parseStoreUrl(remote.url);
  const credentials = await registryCredentials(RegistryConfig.parse({
    host: registry, plainHttp, username: remote.username, passwordEnv: remote.passwordEnv, passwordFile: remote.passwordFile, tokenFile: remote.tokenFile,
  }));
  const client = new OciClient({ registry, plainHttp, credentials, chunkSizeBytes: remote.chunkBytes, ...(extra.signal ? { signal: extra.signal } : {}) });
  return new OciStore({ client, prefix, chunkBytes: remote.chunkBytes, stateDir: path.join(config.stateDir, 'store-uploads'), ...(extra.onChunk ? { onChunk: extra.onChunk } : {}) });
}

const remotes = new Map<string, RemoteCache>();

/** One remote per store directory and URL in a process: its cache budget and pending work are shared. */
export function remoteFor(config: Config, logger?: Logger): RemoteCache | undefined {
  const remote = config.remoteStore;
  if (!remote) return undefined;
  const id = `${config.storeDir}\0${remote.url}`;
  let found = remotes.get(id);
  if (!found) {
    let oci: Promise<OciStore> | undefined;
    found = new RemoteCache({
      oci: () => (oci ??= openOciStore(config).then((o) => o!)),
      cache: new LruCache(new StepStore(config.storeDir), remote.cacheBytes, remote.cacheMinIdleMs),
      logger: logger ?? pino({ name: 'sborka-store', level: 'warn' }, pino.destination(2)),
    });
    remotes.set(id, found);
  }
  return found;
}

/** The worker's store: the local directory, with the remote behind it when one is configured. */
export function openStepStore(config: Config, logger?: Logger): StepStore {
  const remote = remoteFor(config, logger);
  return new StepStore(config.storeDir, { ...(logger ? { logger } : {}), ...(remote ? { remote } : {}) });
}
