// Fetches binary packages straight from a Debian mirror, verified the way apt verifies
// them: InRelease checked with gpgv against the Debian archive keyring, Packages.xz
// checked against InRelease's SHA256, each .deb checked against Packages' SHA256. Used
// for kernels and busybox of foreign architectures without touching the host's apt/dpkg
// configuration (other builds share this host).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { z } from 'zod';

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export const DebianPackage = z.object({
  name: z.string(),
  version: z.string(),
  architecture: z.string(),
  filename: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  depends: z.string(),
  source: z.string(),
});
export type DebianPackage = z.infer<typeof DebianPackage>;

export interface MirrorOptions {
  /** Cache root: indexes under indexes/, downloaded .debs under debs/. */
  cacheDir: string;
  mirror?: string;
  keyring?: string;
  signal?: AbortSignal;
  /** An index younger than this is reused without asking the mirror (default 6 h). */
  indexMaxAgeMs?: number;
}

/**
 * One suite/arch "main" index. Stanzas are parsed only for the names asked for: a
 * Packages file has ~60,000 of them and we need two.
 */
export class PackageIndex {
  private readonly parsed = new Map<string, DebianPackage | undefined>();

  constructor(
    readonly suite: string,
    readonly debArch: string,
    private readonly text: string,
  ) {}

  /** The newest stanza of `name` for this architecture (or "all"). */
  find(name: string): DebianPackage | undefined {
    if (!this.parsed.has(name)) {
      const stanzas: string[] = [];
      const needle = `Package: ${name}\n`;
      for (let at = this.text.indexOf(needle); at >= 0; at = this.text.indexOf(needle, at + needle.length)) {
        if (at > 0 && this.text[at - 1] !== '\n') continue;
        const end = this.text.indexOf('\n\n', at);
        stanzas.push(this.text.slice(at, end < 0 ? undefined : end));
      }
      this.parsed.set(name, parsePackages(stanzas.join('\n\n'), this.debArch).get(name));
    }
    return this.parsed.get(name);
  }

  get(name: string): DebianPackage {
    const p = this.find(name);
    if (!p) throw new Error(`package ${name} not found in Debian ${this.suite}/main ${this.debArch}`);
    return p;
  }

  /**
   * Follows a metapackage (linux-image-amd64) to the real package it depends on with "=":
   * the versioned image holding the kernel itself.
   */
  resolveMeta(name: string, realPrefix: string): DebianPackage {
    const meta = this.get(name);
    for (const alt of meta.depends.split(',')) {
      const dep = alt.trim().split(/\s+/)[0] ?? '';
      if (dep.startsWith(realPrefix) && this.find(dep)) return this.get(dep);
    }
    throw new Error(`${name} ${meta.version} depends on no ${realPrefix}* package in ${this.suite}/${this.debArch}`);
  }
}

const inflight = new Map<string, Promise<PackageIndex>>();

/** The verified index of `suite`'s main component for `debArch`, from cache when fresh or the mirror cannot be reached. */
export function loadPackageIndex(suite: string, debArch: string, options: MirrorOptions): Promise<PackageIndex> {
  const key = `${options.cacheDir}|${suite}|${debArch}`;
  let p = inflight.get(key);
  if (!p) {
    p = loadIndexUncached(suite, debArch, options);
    inflight.set(key, p);
    p.catch(() => inflight.delete(key));
  }
  return p;
}

async function loadIndexUncached(suite: string, debArch: string, options: MirrorOptions): Promise<PackageIndex> {
  const dir = path.join(options.cacheDir, 'indexes', suite, debArch);
  const packagesPath = path.join(dir, 'Packages');
  const maxAge = options.indexMaxAgeMs ?? 6 * 3600_000;
  const stat = await fs.promises.stat(packagesPath).catch(() => undefined);
  if (!stat || Date.now() - stat.mtimeMs > maxAge) {
    try {
      await refreshIndex(suite, debArch, dir, options);
    } catch (err) {
      // An older verified index still names packages whose .debs we may have cached.
      if (!stat) throw err;
    }
  }
  return new PackageIndex(suite, debArch, await fs.promises.readFile(packagesPath, 'utf8'));
}

async function refreshIndex(suite: string, debArch: string, dir: string, options: MirrorOptions): Promise<void> {
  const mirror = (options.mirror ?? DEFAULT_MIRROR).replace(/\/+$/, '');
  await fs.promises.mkdir(dir, { recursive: true });
  const tmp = `${dir}/.tmp-${randomBytes(6).toString('hex')}`;
  await fs.promises.mkdir(tmp);
  try {
    const inRelease = path.join(tmp, 'InRelease');
    await download(`${mirror}/dists/${suite}/InRelease`, inRelease, options.signal);
    const release = path.join(tmp, 'Release');
    await run(['gpgv', '--keyring', options.keyring ?? DEBIAN_KEYRING, '--output', release, inRelease]);
    const releaseText = await fs.promises.readFile(release, 'utf8');
    const codename = /^Codename:\s*(\S+)/m.exec(releaseText)?.[1];
    const suiteName = /^Suite:\s*(\S+)/m.exec(releaseText)?.[1];
    if (codename !== suite && suiteName !== suite) {
      throw new Error(`InRelease of ${suite} is signed for ${codename ?? '?'}/${suiteName ?? '?'}: refusing it`);
    }
    const member = `main/binary-${debArch}/Packages.xz`;
    const entry = releaseSha256(releaseText, member);
    const xzPath = path.join(tmp, 'Packages.xz');
    await downloadVerified(`${mirror}/dists/${suite}/${member}`, xzPath, entry, options.signal);
    const out = path.join(tmp, 'Packages');
    await run(['xz', '--decompress', '--keep', xzPath]);
    await fs.promises.rename(out, path.join(dir, 'Packages'));
    await fs.promises.rename(release, path.join(dir, 'Release'));
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}

function releaseSha256(release: string, member: string): { sha256: string; size: number } {
  const section = release.split(/^SHA256:\s*$/m)[1] ?? '';
  for (const line of section.split('\n')) {
    if (!line.startsWith(' ')) {
      if (line.trim() !== '') break;
      continue;
    }
    const [sha256, size, name] = line.trim().split(/\s+/);
    if (name === member && sha256 && size) return { sha256, size: Number(size) };
  }
  throw new Error(`the signed Release file does not list ${member}`);
}

/** Parses a Packages file; when a name appears more than once the highest version wins (by dpkg order, approximated). */
export function parsePackages(text: string, debArch: string): Map<string, DebianPackage> {
  const out = new Map<string, DebianPackage>();
  for (const stanza of text.split(/\n\n+/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith(' ') || line.startsWith('\t')) {
        if (last) fields.set(last, `${fields.get(last) ?? ''}\n${line}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon);
      fields.set(last, line.slice(colon + 1).trim());
    }
    const name = fields.get('Package');
    const arch = fields.get('Architecture');
    if (!name || (arch !== debArch && arch !== 'all')) continue;
    const pkg = DebianPackage.safeParse({
      name,
      version: fields.get('Version'),
      architecture: arch,
      filename: fields.get('Filename'),
      size: Number(fields.get('Size')),
      sha256: fields.get('SHA256'),
      depends: fields.get('Depends') ?? '',
      source: (fields.get('Source') ?? name).split(/\s+/)[0],
    });
    if (!pkg.success) continue;
    const prev = out.get(name);
    if (!prev || compareDebianVersions(pkg.data.version, prev.version) > 0) out.set(name, pkg.data);
  }
  return out;
}

/** dpkg's version ordering (epoch, upstream, revision; '~' sorts before everything), as dpkg's verrevcmp. */
export function compareDebianVersions(a: string, b: string): number {
  const split = (v: string) => {
    const colon = v.indexOf(':');
    const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon >= 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf('-');
    return { epoch, upstream: dash >= 0 ? rest.slice(0, dash) : rest, revision: dash >= 0 ? rest.slice(dash + 1) : '' };
  };
  const A = split(a);
  const B = split(b);
  return Math.sign(A.epoch - B.epoch || verrevcmp(A.upstream, B.upstream) || verrevcmp(A.revision, B.revision));
}

function verrevcmp(a: string, b: string): number {
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
  const order = (c: string | undefined): number => {
    if (c === undefined || isDigit(c)) return 0;
    if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
    if (c === '~') return -1;
    return c.charCodeAt(0) + 256;
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let firstDiff = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** The .deb of `pkg` in the cache (downloaded and checked against the signed index if missing). */
export async function fetchDeb(pkg: DebianPackage, options: MirrorOptions): Promise<string> {
  const dir = path.join(options.cacheDir, 'debs');
  const dest = path.join(dir, path.basename(pkg.filename));
  if (await fileHasDigest(dest, pkg.sha256)) return dest;
  await fs.promises.mkdir(dir, { recursive: true });
  const mirror = (options.mirror ?? DEFAULT_MIRROR).replace(/\/+$/, '');
  await downloadVerified(`${mirror}/${pkg.filename}`, dest, { sha256: pkg.sha256, size: pkg.size }, options.signal);
  return dest;
}

async function fileHasDigest(file: string, sha256: string): Promise<boolean> {
  try {
    return (await sha256File(file)) === sha256;
  } catch {
    return false;
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/** Downloads to a temporary name, checks size and digest, then renames into place (atomic for concurrent fetchers). */
async function downloadVerified(url: string, dest: string, want: { sha256: string; size: number }, signal?: AbortSignal): Promise<void> {
  const tmp = `${dest}.part-${randomBytes(6).toString('hex')}`;
  try {
    await download(url, tmp, signal);
    const size = (await fs.promises.stat(tmp)).size;
    const sha256 = await sha256File(tmp);
    if (size !== want.size || sha256 !== want.sha256) {
      throw new Error(`${url}: got ${size} bytes sha256 ${sha256}, the signed index says ${want.size} bytes sha256 ${want.sha256}`);
    }
    await fs.promises.rename(tmp, dest);
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
}

async function download(url: string, dest: string, signal?: AbortSignal): Promise<void> {
  const res = await fetch(url, { signal: signal ?? null, redirect: 'follow' });
  if (!res.ok || !res.body) throw new Error(`GET ${url}: HTTP ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), fs.createWriteStream(dest));
}

/** Runs a helper program (argv only) and throws with its stderr when it fails. */
export function run(argv: readonly string[], options: { cwd?: string } = {}): Promise<string> {
  const [program, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(program!, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code, sig) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${argv.join(' ')} failed (${sig ?? `exit ${code}`}): ${Buffer.concat(err).toString('utf8').trim()}`));
    });
  });
}
