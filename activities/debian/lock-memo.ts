// The locks resolve computed, kept in its apt tree next to the lists they came from. A
// Release file lists the digest of every index of its suite, so the same Release files (byte
// for byte), the same keyrings, the same host apt and the same request give the same lock:
// resolve then takes it instead of reading the indexes and simulating twice. Whatever
// changes on the mirror changes a Release file, and with it the memo's key.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { canonicalJson, sha256Hex } from '../../plan/cache-key';
import { sha256File } from '../store';
import { Lock, lockJson, type AptSource } from './lock';

/** Bump when resolve computes locks differently: older memos stop matching. */
const MEMO_VERSION = 1;
const MEMO_DIR = 'sborka-locks';

/** Digest of the Release files apt keeps in the lists (InRelease, or Release and its signature). */
export async function releaseFilesDigest(listsDir: string): Promise<string> {
  const names = (await fs.readdir(listsDir)).filter((n) => /_(InRelease|Release|Release\.gpg)$/.test(n)).sort();
  if (names.length === 0) throw new Error(`no Release files in ${listsDir}`);
  const parts = await Promise.all(names.map(async (n) => `${n} ${await sha256File(path.join(listsDir, n))}`));
  return sha256Hex(parts.join('\n'));
}

/** The memo key of a request (the memo's directory is that of the Release files). */
export async function requestKey(request: unknown, sources: readonly AptSource[]): Promise<string> {
  const keyrings = await Promise.all([...new Set(sources.map((s) => s.signedBy))].sort().map(async (k) => `${k} ${await sha256File(k)}`));
  return sha256Hex(canonicalJson({ memo: MEMO_VERSION, request, sources, keyrings, apt: await aptVersion() }));
}

/** The lock memoized under key for these Release files, or undefined. */
export async function readMemo(aptDir: string, releases: string, key: string): Promise<Lock | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(aptDir, MEMO_DIR, releases, `${key}.json`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = Lock.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : undefined;
}

/** Keeps the lock under key; memos of other Release files go, since the lists no longer match them. */
export async function writeMemo(aptDir: string, releases: string, key: string, lock: Lock): Promise<void> {
  const root = path.join(aptDir, MEMO_DIR);
  const dir = path.join(root, releases);
  await fs.mkdir(dir, { recursive: true });
  for (const old of await fs.readdir(root)) if (old !== releases) await fs.rm(path.join(root, old), { recursive: true, force: true });
  const tmp = path.join(dir, `.${key}.${process.pid}.tmp`);
  await fs.writeFile(tmp, lockJson(lock));
  await fs.rename(tmp, path.join(dir, `${key}.json`));
}

let aptVersionText: Promise<string> | undefined;
/** The host apt's version: its solver makes the lock. */
function aptVersion(): Promise<string> {
  aptVersionText ??= promisify(execFile)('apt-get', ['--version']).then(({ stdout }) => stdout.split('\n')[0] ?? '');
  return aptVersionText;
}
