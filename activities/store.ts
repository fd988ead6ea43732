// The content-addressed step store: objects/<key[0..2]>/<key>/ holding outputs/,
// manifest.json and seal.json. An entry appears by one rename of a fully written, fsynced
// directory, so a reader either sees all of it or nothing. Nothing is served unchecked: a
// lookup verifies the entry against its manifest and seal (store-verify.ts) and moves a bad
// one to quarantine/<key>-<time>, evidence kept, so the step runs again.
// Tenants: a store rooted at <shared>/tenants/<name> is that partner's namespace. Its lookups
// see its own entries, then the shared ones; it commits only to its own; nothing outside it
// ever sees its entries (store-tenancy.ts decides which steps belong there).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { canonicalJson, sha256Hex } from '../plan/cache-key';
import { Name } from '../plan/schemas';
import { StepOutputs } from '../plan/step-contract';
import type { Quarantined } from './ledger';
import { describeTree, fsyncPath, fsyncTree, isEnoent, readdirOrEmpty } from './store-files';
import { makeSeal, SEAL_FILE, sealKey } from './store-seal';
import { dropVerified, MANIFEST_FILE, markVerified, verifyEntry } from './store-verify';

export { sha256File } from './store-files';

export const StoreManifest = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  kind: z.string(),
  createdAt: z.string(),
  outputs: StepOutputs,
});
export type StoreManifest = z.infer<typeof StoreManifest>;

export interface StoreEntry {
  key: string;
  dir: string;
  outputsDir: string;
  manifest: StoreManifest;
  /** The partner namespace the entry was found in; absent for the shared one. */
  tenant?: string;
}

export interface StoreEntryInfo {
  key: string;
  kind: string;
  dir: string;
  /** Bytes of the outputs plus the manifest. */
  bytes: number;
  /** The entry directory's mtime: set at commit and on every hit. */
  lastUsedMs: number;
}

/** Where a step writes before commit: inside the store, so the final rename stays on one filesystem. */
export interface Staging {
  dir: string;
  outputsDir: string;
  /** Scratch space and the programs' working directory; dropped at commit. */
  workDir: string;
}

export interface CommitMeta {
  key?: string;
  kind: string;
  values?: Record<string, unknown>;
  /** sha256 of outputs the step already knows, by path (see commit). */
  digests?: Record<string, string>;
  /** Fetched from the remote store: not pushed back. */
  fromRemote?: boolean;
}

/** The remote store behind this one (store-remote.ts); the directory is then its local cache. */
export interface RemoteStore {
  /** After a local miss: the namespace's remote entry, checked on the way, committed here. */
  pull(local: StepStore, key: string, quarantine: boolean): Promise<LookupResult>;
  /** Copies a committed entry out, its manifest last. */
  push(local: StepStore, entry: StoreEntry): Promise<void>;
  holds(local: StepStore, key: string): Promise<boolean>;
  /** A local hit: the remote records the use now and then, and finishes a push that failed. */
  hit(local: StepStore, entry: StoreEntry): Promise<void>;
}

export interface StoreOptions {
  /** Where quarantines are reported; warnings to stderr when absent. */
  logger?: Logger;
  remote?: RemoteStore;
}

/** A lookup's entry, if a sound one exists, and the bad entries it quarantined on the way. */
export interface LookupResult {
  entry?: StoreEntry;
  quarantined: Quarantined[];
}

export interface LookupOptions {
  /** Record the use (the entry directory's mtime, which gc reads); default true. */
  touch?: boolean;
  /** Move a bad entry to quarantine; default true. */
  quarantine?: boolean;
}

/** What a full check found: undefined when the entry is sound (or went meanwhile). */
export interface EntryProblem {
  reason: string;
  movedTo?: string;
}

const KEY = /^[0-9a-f]{64}$/;
export const TENANTS_DIR = 'tenants';
let stderrLogger: Logger | undefined;

export class StepStore {
  /** The shared store this one belongs to (itself unless it is a tenant's namespace). */
  readonly sharedRoot: string;
  readonly tenant: string | undefined;

  constructor(readonly root: string, private readonly options: StoreOptions = {}) {
    const parent = path.dirname(root);
    const name = path.basename(root);
    const isTenant = path.basename(parent) === TENANTS_DIR && Name.safeParse(name).success;
    this.sharedRoot = isTenant ? path.dirname(parent) : root;
    this.tenant = isTenant ? name : undefined;
  }

  /** The partner's namespace in this store. */
  forTenant(name: string): StepStore {
    if (!Name.safeParse(name).success) throw new Error(`tenant name ${JSON.stringify(name)} is not a valid name`);
    return new StepStore(path.join(this.sharedRoot, TENANTS_DIR, name), this.options);
  }

  /** The namespaces of the partners that have one, when this is the shared store. */
  async tenants(): Promise<StepStore[]> {
    if (this.tenant !== undefined) return [];
    const names = await readdirOrEmpty(path.join(this.root, TENANTS_DIR));
    return names.filter((n) => Name.safeParse(n).success).sort().map((n) => this.forTenant(n));
  }

  private get logger(): Logger {
    return this.options.logger ?? (stderrLogger ??= pino({ name: 'sborka-store', level: 'warn' }, pino.destination(2)));
  }

  private get objectsDir(): string {
    return path.join(this.root, 'objects');
  }

  /** Staging is shared by all namespaces: one filesystem, one place for gc to reap. */
  get tmpDir(): string {
    return path.join(this.sharedRoot, 'tmp');
  }

  get quarantineDir(): string {
    return path.join(this.root, 'quarantine');
  }

  entryDir(key: string): string {
    if (!KEY.test(key)) throw new Error(`store key must be 64 lower-case hex digits, got ${JSON.stringify(key)}`);
    return path.join(this.objectsDir, key.slice(0, 2), key);
  }

  /** The committed, verified entry, or undefined. A hit records its use unless `touch` is false. */
  async lookup(key: string, options: { touch?: boolean } = {}): Promise<StoreEntry | undefined> {
    return (await this.lookupChecked(key, options)).entry;
  }

  /**
   * As lookup, also telling which bad entries it quarantined (the step's result names them).
   * With `quarantine: false` a bad entry is left in place and simply not found.
   */
  async lookupChecked(key: string, options: LookupOptions = {}): Promise<LookupResult> {
    const own = await this.lookupHere(key, options);
    if (own.entry || this.tenant === undefined) return own;
    const shared = await new StepStore(this.sharedRoot, this.options).lookupHere(key, options);
    return { entry: shared.entry, quarantined: [...own.quarantined, ...shared.quarantined] };
  }

  /** True when this namespace has an entry under the key (unchecked: for deciding where a step belongs). */
  async holds(key: string): Promise<boolean> {
    try {
      await fs.access(path.join(this.entryDir(key), MANIFEST_FILE));
      return true;
    } catch (err) {
      if (isEnoent(err)) return this.options.remote ? this.options.remote.holds(this, key) : false;
      throw err;
    }
  }

  private async lookupHere(key: string, options: LookupOptions): Promise<LookupResult> {
    const dir = this.entryDir(key);
    try {
      await fs.lstat(dir);
    } catch (err) {
      if (isEnoent(err)) return this.options.remote ? this.options.remote.pull(this, key, options.quarantine !== false) : { quarantined: [] };
      throw err;
    }
    const verdict = await verifyEntry(dir, key, await sealKey(this.sharedRoot));
    if (!verdict.ok) {
      if ('absent' in verdict || options.quarantine === false) return { quarantined: [] };
      const movedTo = await this.quarantine(key, verdict.reason);
      return { quarantined: movedTo === undefined ? [] : [{ key, reason: verdict.reason, movedTo }] };
    }
    const manifest = StoreManifest.parse(JSON.parse(verdict.manifestText));
    if (options.touch !== false) {
      const now = new Date();
      try {
        await fs.utimes(dir, now, now);
      } catch (err) {
        if (isEnoent(err)) return { quarantined: [] }; // removed by gc meanwhile
        throw err;
      }
    }
    const entry = this.entryAt(key, dir, manifest);
    if (this.options.remote && options.touch !== false) await this.options.remote.hit(this, entry);
    return { entry, quarantined: [] };
  }

  private entryAt(key: string, dir: string, manifest: StoreManifest): StoreEntry {
    return { key, dir, outputsDir: path.join(dir, 'outputs'), manifest, ...(this.tenant ? { tenant: this.tenant } : {}) };
  }

  /**
   * Checks the entry, hashing every file, and quarantines it when bad and `quarantine` is
   * set. Undefined when it is sound or absent.
   */
  async verify(key: string, options: { quarantine?: boolean } = {}): Promise<EntryProblem | undefined> {
    const verdict = await verifyEntry(this.entryDir(key), key, await sealKey(this.sharedRoot), { full: true });
    if (verdict.ok || 'absent' in verdict) return undefined;
    return { reason: verdict.reason, ...(options.quarantine ? { movedTo: await this.quarantine(key, verdict.reason) } : {}) };
  }

  /** Moves a bad entry out of objects/ (never deleted: it is evidence); undefined when it went meanwhile. */
  async quarantine(key: string, reason: string): Promise<string | undefined> {
    const dir = this.entryDir(key);
    const at = new Date();
    await fs.mkdir(this.quarantineDir, { recursive: true });
    const movedTo = path.join(this.quarantineDir, `${key}-${at.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`);
    try {
      await fs.rename(dir, movedTo);
    } catch (err) {
      if (isEnoent(err)) return undefined; // another reader quarantined it first
      throw err;
    }
    dropVerified(dir);
    await fs.writeFile(path.join(movedTo, 'quarantine.json'), `${JSON.stringify({ key, reason, at: at.toISOString(), from: dir, pid: process.pid, host: os.hostname() }, null, 2)}\n`);
    this.logger.error({ key, reason, movedTo, tenant: this.tenant }, 'store entry failed verification: quarantined, the step will run again');
    return movedTo;
  }

  async createStaging(): Promise<Staging> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    // host~pid~random: gc can tell a live writer's staging from a dead one's.
    const dir = path.join(this.tmpDir, `${os.hostname()}~${process.pid}~${randomBytes(6).toString('hex')}`);
    const staging = { dir, outputsDir: path.join(dir, 'outputs'), workDir: path.join(dir, 'work') };
    await fs.mkdir(staging.outputsDir, { recursive: true });
    await fs.mkdir(staging.workDir);
    return staging;
  }

  async discard(staging: Staging): Promise<void> {
    await fs.rm(staging.dir, { recursive: true, force: true });
  }

  /**
   * Lists and hashes the outputs, writes the manifest and the seal, fsyncs everything and
   * renames the staging directory into place. Without a key the entry is keyed by its outputs
   * (for steps that are not cacheable). Another writer's entry under the same key wins
   * harmlessly. `digests` holds the sha256 of outputs the step already knows (it hashed them,
   * or linked them from an entry whose manifest has them), by path: those are not read again,
   * and this process takes the entry as checked.
   */
  async commit(staging: Staging, meta: CommitMeta): Promise<StoreEntry> {
    // The scratch space (an unpacked root: thousands of files) goes while the outputs are
    // hashed and synced. Its new name keeps the writer's host~pid, so cleanTmp leaves it to us.
    const scratch = `${staging.dir}~scratch`;
    await fs.rename(staging.workDir, scratch).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    const [entry] = await Promise.all([this.place(staging, meta), fs.rm(scratch, { recursive: true, force: true })]);
    if (this.options.remote && !meta.fromRemote) await this.options.remote.push(this, entry);
    return entry;
  }

  private async place(staging: Staging, meta: CommitMeta): Promise<StoreEntry> {
    const { files, listing } = await describeTree(staging.outputsDir, meta.digests ?? {});
    const outputs = StepOutputs.parse({ files, values: meta.values ?? {} });
    const key = meta.key ?? outputsKey(meta.kind, outputs);
    const manifest: StoreManifest = { key, kind: meta.kind, createdAt: new Date().toISOString(), outputs };
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    await fs.writeFile(path.join(staging.dir, MANIFEST_FILE), manifestText);
    const seal = makeSeal(await sealKey(this.sharedRoot), key, manifestText, listing);
    await fs.writeFile(path.join(staging.dir, SEAL_FILE), `${JSON.stringify(seal, null, 2)}\n`);
    await fsyncTree(staging.dir);

    const final = this.entryDir(key);
    await fs.mkdir(path.dirname(final), { recursive: true });
    // Twice at most: a bad entry in the way is quarantined by the lookup and the rename retried.
    for (let tries = 0; ; tries++) {
      try {
        await fs.rename(staging.dir, final);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        const existing = await this.lookupHere(key, {});
        if (existing.entry || tries > 0) {
          await this.discard(staging);
          if (!existing.entry) throw new Error(`store entry ${key} is in the way and could not be checked: ${final}`);
          return existing.entry;
        }
      }
    }
    await fsyncPath(path.dirname(final));
    await markVerified(final);
    return this.entryAt(key, final, manifest);
  }

  /** The entries of this namespace (a tenant's are listed by its own store, see tenants()). */
  async list(): Promise<StoreEntryInfo[]> {
    const infos: StoreEntryInfo[] = [];
    for (const prefix of await readdirOrEmpty(this.objectsDir)) {
      for (const key of await readdirOrEmpty(path.join(this.objectsDir, prefix))) {
        if (!KEY.test(key)) continue;
        const dir = path.join(this.objectsDir, prefix, key);
        try {
          const text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8');
          const manifest = StoreManifest.parse(JSON.parse(text));
          const stat = await fs.stat(dir);
          const bytes = manifest.outputs.files.reduce((sum, f) => sum + f.size, Buffer.byteLength(text));
          infos.push({ key, kind: manifest.kind, dir, bytes, lastUsedMs: stat.mtimeMs });
        } catch (err) {
          if (isEnoent(err)) continue; // removed meanwhile
          throw new Error(`store entry ${dir} is unreadable: ${(err as Error).message}`);
        }
      }
    }
    return infos;
  }

  /** Every key directory of this namespace, whether its manifest reads or not (for verify). */
  async keys(): Promise<string[]> {
    const keys: string[] = [];
    for (const prefix of (await readdirOrEmpty(this.objectsDir)).sort()) {
      for (const key of (await readdirOrEmpty(path.join(this.objectsDir, prefix))).sort()) if (KEY.test(key)) keys.push(key);
    }
    return keys;
  }

  /** When the entry was last used (its directory's mtime), or undefined when absent. */
  async lastUsedMs(key: string): Promise<number | undefined> {
    try {
      return (await fs.stat(this.entryDir(key))).mtimeMs;
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  }

  /** Removes an entry: renamed out of objects/ first, so no reader ever sees half of it. */
  async remove(key: string): Promise<boolean> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    const trash = path.join(this.tmpDir, `trash~${randomBytes(6).toString('hex')}`);
    try {
      await fs.rename(this.entryDir(key), trash);
    } catch (err) {
      if (isEnoent(err)) return false;
      throw err;
    }
    dropVerified(this.entryDir(key));
    await fs.rm(trash, { recursive: true, force: true });
    return true;
  }

  /**
   * Drops staging directories of dead writers on this host and leftover trash; returns how
   * many. `beforeRemove` sees each dead writer's staging directory first.
   */
  async cleanTmp(isAlive: (pid: number) => boolean, beforeRemove?: (dir: string) => Promise<void>): Promise<number> {
    let removed = 0;
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      const [host, pid] = name.split('~');
      const dead = host === 'trash' || (host === os.hostname() && pid !== undefined && !isAlive(Number(pid)));
      if (!dead) continue;
      const dir = path.join(this.tmpDir, name);
      if (host !== 'trash') await beforeRemove?.(dir);
      await fs.rm(dir, { recursive: true, force: true });
      removed += 1;
    }
    return removed;
  }
}

/** The key of a non-cacheable step's result: equal outputs give equal keys, so later steps still cache. */
export function outputsKey(kind: string, outputs: StepOutputs): string {
  return sha256Hex(canonicalJson({ kind, outputs }));
}
