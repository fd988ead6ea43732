// Checks a store entry against its manifest and seal before anyone uses it: every file the
// manifest lists exists with its size and sha256 (hashed streaming, sparse-aware), nothing
// else is there, the links and directories are the sealed ones, and the manifest is the
// sealed one (store-seal.ts).
// Hashing a multi-GB image on every hit would cost more than the hit saves, so a full check
// runs once per entry per process; after it, the entry's fingerprint (every file's inode,
// size, mtime and ctime, in nanoseconds) stands for it. Writing a file changes its mtime and
// ctime, restoring the mtime (utimes) changes the ctime again, replacing a file changes its
// inode: each makes the next hit hash again. What the fingerprint cannot see is a change
// below the filesystem (a disk fault, a write to the raw device): that shows at the next
// full check, at the latest when the worker restarts, or with `sborka store verify`.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { StepOutputs } from '../plan/step-contract';
import { isEnoent, listTree, sha256File } from './store-files';
import { parseSeal, SEAL_FILE, sealProblem } from './store-seal';

export const MANIFEST_FILE = 'manifest.json';
const ENTRY_FILES = new Set([MANIFEST_FILE, SEAL_FILE, 'outputs']);

export type Verdict = { ok: true; manifestText: string } | { ok: false; reason: string } | { ok: false; absent: true };

/** Fingerprints of entries fully checked by this process, by entry directory. */
const verified = new Map<string, string>();
const running = new Map<string, Promise<Verdict>>();

/** Forget what this process checked (a test's stand-in for a worker restart). */
export function forgetVerified(): void {
  verified.clear();
}

export function dropVerified(dir: string): void {
  verified.delete(dir);
}

/** Records an entry this process just wrote and hashed as checked. */
export async function markVerified(dir: string): Promise<void> {
  verified.set(dir, await fingerprint(dir, await listTree(path.join(dir, 'outputs'))));
}

/**
 * The entry's verdict. `full` hashes every file even when the fingerprint matches. An entry
 * that disappears while it is checked (gc, another worker's quarantine) is absent, not bad.
 */
export function verifyEntry(dir: string, key: string, secret: Buffer, options: { full?: boolean } = {}): Promise<Verdict> {
  const inFlight = running.get(dir);
  if (inFlight && !options.full) return inFlight;
  const check = checkEntry(dir, key, secret, options.full ?? false).finally(() => running.delete(dir));
  running.set(dir, check);
  return check;
}

async function checkEntry(dir: string, key: string, secret: Buffer, full: boolean): Promise<Verdict> {
  try {
    const verdict = await inspect(dir, key, secret, full);
    if (!verdict.ok) {
      verified.delete(dir);
      // Gone meanwhile: whatever was missing went with it.
      if (!(await exists(dir))) return { ok: false, absent: true };
    }
    return verdict;
  } catch (err) {
    verified.delete(dir);
    if (isEnoent(err) && !(await exists(dir))) return { ok: false, absent: true };
    throw err;
  }
}

async function inspect(dir: string, key: string, secret: Buffer, full: boolean): Promise<Verdict> {
  const bad = (reason: string): Verdict => ({ ok: false, reason });
  const manifestText = await readOrUndefined(path.join(dir, MANIFEST_FILE));
  if (manifestText === undefined) return bad(`${MANIFEST_FILE} is missing`);
  const sealText = await readOrUndefined(path.join(dir, SEAL_FILE));
  if (sealText === undefined) return bad(`${SEAL_FILE} is missing (the entry was never sealed, or the seal was removed)`);
  const sealed = sealProblem(secret, key, manifestText, sealText);
  if (sealed) return bad(sealed);

  let manifest: StepOutputs;
  try {
    const json = JSON.parse(manifestText) as { key?: unknown; outputs?: unknown };
    if (json.key !== key) return bad(`${MANIFEST_FILE} names key ${String(json.key)}, not the entry's ${key}`);
    manifest = StepOutputs.parse(json.outputs);
  } catch (err) {
    return bad(`${MANIFEST_FILE} is unreadable: ${(err as Error).message.split('\n')[0]}`);
  }
  const seal = parseSeal(sealText);

  for (const name of await fs.readdir(dir)) if (!ENTRY_FILES.has(name)) return bad(`unexpected ${name} beside the outputs`);
  const outputsDir = path.join(dir, 'outputs');
  const listing = await listTree(outputsDir);
  if (listing.others.length > 0) return bad(`outputs/${listing.others[0]} is a socket, fifo or device`);
  const listed = new Set(manifest.files.map((f) => f.path));
  const extra = listing.files.find((f) => !listed.has(f));
  if (extra !== undefined) return bad(`outputs/${extra} is not in the manifest`);
  const present = new Set(listing.files);
  const missing = manifest.files.find((f) => !present.has(f.path));
  if (missing) return bad(`outputs/${missing.path} is missing`);
  const links = { ...seal.links };
  for (const [link, target] of Object.entries(listing.links)) {
    if (!(link in links)) return bad(`outputs/${link} is a symbolic link the entry was not sealed with`);
    if (links[link] !== target) return bad(`outputs/${link} points to ${target}, sealed pointing to ${links[link]}`);
    delete links[link];
  }
  const gone = Object.keys(links)[0];
  if (gone !== undefined) return bad(`outputs/${gone} (a symbolic link) is missing`);
  if (listing.dirs.join('\n') !== seal.dirs.join('\n')) return bad('the directories under outputs/ are not the sealed ones');

  for (const f of manifest.files) {
    const st = await fs.lstat(path.join(outputsDir, f.path));
    if (st.size !== f.size) return bad(`outputs/${f.path} is ${st.size} bytes, the manifest says ${f.size}`);
  }
  const print = await fingerprint(dir, listing);
  if (!full && verified.get(dir) === print) return { ok: true, manifestText };
  for (const f of manifest.files) {
    const digest = await sha256File(path.join(outputsDir, f.path));
    if (digest !== f.sha256) return bad(`outputs/${f.path} has sha256 ${digest}, the manifest says ${f.sha256}`);
  }
  // Taken again after hashing: what changed while it was read (a hard link made to one of its
  // files moves the ctime too) is not vouched for, the next lookup hashes it again.
  if ((await fingerprint(dir, listing)) === print) verified.set(dir, print);
  return { ok: true, manifestText };
}

async function fingerprint(dir: string, listing: { files: string[] }): Promise<string> {
  const parts: string[] = [];
  const add = async (rel: string) => {
    const st = await fs.lstat(path.join(dir, rel), { bigint: true });
    parts.push(`${rel}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`);
  };
  await add(MANIFEST_FILE);
  await add(SEAL_FILE);
  for (const f of listing.files) await add(path.join('outputs', f));
  return parts.join('\n');
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (isEnoent(err)) return false;
    throw err;
  }
}
