// The seal of a store entry (seal.json beside manifest.json): the manifest's own sha256, the
// entry's key, what the manifest cannot list (symbolic links, directories), and an HMAC over
// all of it with the store's seal key. The manifest protects the outputs, the seal protects
// the manifest: a disk fault or an edit of either file shows as a mismatch, and a manifest
// "made to match" corrupted outputs needs the seal key to be sealed again.
// The key lives beside the store directory (<store>.seal-key, mode 0600), not inside it:
// whoever may only write the store (a sync job, a shared volume, a remote bucket later)
// cannot forge seals. Whoever can read the key (root on the worker's host) can; that is
// the limit of this check. Hosts that share a store share one key: SBORKA_STORE_SEAL_KEY_FILE
// names it on each (a file the operator makes and distributes, like the store's credentials).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { canonicalJson, sha256Hex } from '../plan/cache-key';
import type { TreeListing } from './store-files';

export const SEAL_FILE = 'seal.json';

const SealBody = z.object({
  version: z.literal(1),
  key: z.string().regex(/^[0-9a-f]{64}$/),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  links: z.record(z.string(), z.string()),
  dirs: z.array(z.string()),
});
export const Seal = SealBody.extend({ mac: z.string().regex(/^[0-9a-f]{64}$/) });
export type Seal = z.infer<typeof Seal>;

export function sealKeyPath(sharedRoot: string): string {
  return `${path.resolve(sharedRoot)}.seal-key`;
}

const keys = new Map<string, Promise<Buffer>>();

/** Hosts that share a store (SBORKA_STORE_URL) share its seal key through this file: one made by hand, never here. */
export const SEAL_KEY_FILE_VAR = 'SBORKA_STORE_SEAL_KEY_FILE';

/**
 * The store's seal key. With SBORKA_STORE_SEAL_KEY_FILE, that file, read on each use (a
 * rotated or newly mounted key is taken up without a restart) and refused when anyone may
 * read or write it (mode o+r or o+w: a secret that any local user could use to forge seals).
 * Without it, <store>.seal-key, made on first use; every process of a host reads the same file.
 */
export function sealKey(sharedRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  const shared = env[SEAL_KEY_FILE_VAR];
  if (shared) return readSharedKey(shared);
  const file = sealKeyPath(sharedRoot);
  let key = keys.get(file);
  if (!key) {
    key = loadOrCreate(file);
    keys.set(file, key);
    key.catch(() => keys.delete(file));
  }
  return key;
}

async function loadOrCreate(file: string): Promise<Buffer> {
  try {
    return parseKey(file, await fs.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  // Written aside and linked into place: a concurrent reader sees the whole key or none, and
  // of two processes making one at once, the first link wins and both read it.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await fs.writeFile(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  try {
    await fs.link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  return parseKey(file, await fs.readFile(file, 'utf8'));
}

async function readSharedKey(file: string): Promise<Buffer> {
  const where = `${SEAL_KEY_FILE_VAR}=${file}`;
  if (!path.isAbsolute(file)) throw new Error(`${where}: must be an absolute path`);
  // Opened once and checked through the same descriptor: no swap between the check and the read.
  const handle = await fs.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${where}: cannot be opened (${err.code ?? err.message}); every host of a shared store needs the same key file`);
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${where}: not a regular file`);
    if (st.mode & 0o006) throw new Error(`${where}: mode ${(st.mode & 0o777).toString(8)} lets every local user ${st.mode & 0o004 ? 'read' : 'write'} the seal key: chmod o-rw it (0600 or 0640)`);
    if (st.size > 4096) throw new Error(`${where}: ${st.size} bytes, not a seal key (64 hex digits)`);
    return parseKey(file, await handle.readFile('utf8'));
  } finally {
    await handle.close();
  }
}

function parseKey(file: string, text: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file}: the store's seal key must be 64 hex digits`);
  return Buffer.from(hex, 'hex');
}

function mac(secret: Buffer, body: z.infer<typeof SealBody>): string {
  return createHmac('sha256', secret).update(canonicalJson(body)).digest('hex');
}

export function makeSeal(secret: Buffer, key: string, manifestText: string, listing: TreeListing): Seal {
  const body = { version: 1 as const, key, manifestSha256: sha256Hex(manifestText), links: listing.links, dirs: listing.dirs };
  return { ...body, mac: mac(secret, body) };
}

/** Why the seal does not hold for this manifest text under this key, or undefined when it does. */
export function sealProblem(secret: Buffer, key: string, manifestText: string, sealText: string): string | undefined {
  let seal: Seal;
  try {
    seal = Seal.parse(JSON.parse(sealText));
  } catch (err) {
    return `${SEAL_FILE} is unreadable: ${firstLine((err as Error).message)}`;
  }
  const { mac: given, ...body } = seal;
  const expected = mac(secret, body);
  if (!timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(expected, 'hex'))) return `${SEAL_FILE} was not made with this store's seal key (edited, or copied from another store)`;
  if (seal.key !== key) return `${SEAL_FILE} seals key ${seal.key}, not this entry's`;
  if (seal.manifestSha256 !== sha256Hex(manifestText)) return 'manifest.json changed after the entry was sealed';
  return undefined;
}

export function parseSeal(sealText: string): Seal {
  return Seal.parse(JSON.parse(sealText));
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
