// apt with a private configuration and state under a step's work directory: the host's apt
// setup, its dpkg database and its architecture never leak in. resolve uses it to download
// the suite's indexes and to simulate the installation that gives the exact package set.
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Repo } from '../../plan/model';
import type { AptSource } from './lock';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Debian's mirror; SBORKA_DEBIAN_MIRROR points builds at a local mirror or caching proxy. */
export function debianMirror(): string {
  return (process.env.SBORKA_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian').replace(/\/+$/, '');
}

/** Suites that get point-release updates and security fixes (unstable and experimental do not). */
const STABLE_SUITES = new Set(['bullseye', 'bookworm', 'trixie', 'forky']);

/**
 * The apt sources of a suite: the archive plus -updates and -security for released suites,
 * then the recipe's own repositories (their keys resolved by the caller).
 */
export function suiteSources(suite: string, repos: ReadonlyArray<Repo & { keyPath?: string }>): AptSource[] {
  const mirror = debianMirror();
  const sources: AptSource[] = [{ uri: mirror, suite, components: ['main'], signedBy: DEBIAN_KEYRING }];
  if (STABLE_SUITES.has(suite)) {
    sources.push({ uri: mirror, suite: `${suite}-updates`, components: ['main'], signedBy: DEBIAN_KEYRING });
    const security = process.env.SBORKA_DEBIAN_SECURITY_MIRROR ?? mirror.replace(/\/debian$/, '/debian-security');
    sources.push({ uri: security.replace(/\/+$/, ''), suite: `${suite}-security`, components: ['main'], signedBy: DEBIAN_KEYRING });
  }
  for (const r of repos) {
    sources.push({ uri: r.url.replace(/\/+$/, ''), suite: r.suite ?? suite, components: r.components.length ? r.components : ['main'], signedBy: r.keyPath ?? DEBIAN_KEYRING });
  }
  return sources;
}

/** One-line sources.list format; mmdebstrap takes these lines as its mirror arguments. */
export function sourceLine(s: AptSource): string {
  return `deb [signed-by=${s.signedBy}] ${s.uri} ${s.suite} ${s.components.join(' ')}`;
}

export interface AptRoot {
  dir: string;
  /** The APT_CONFIG file. */
  config: string;
  listsDir: string;
}

/** A private apt tree for one arch with an empty dpkg status: nothing of the host's apt is read. */
export async function makeAptRoot(dir: string, debArch: string, sources: readonly AptSource[]): Promise<AptRoot> {
  const listsDir = path.join(dir, 'var/lib/apt/lists');
  for (const d of ['etc/apt/apt.conf.d', 'etc/apt/preferences.d', 'etc/apt/sources.list.d', 'var/lib/apt/lists/partial', 'var/cache/apt/archives/partial', 'var/lib/dpkg']) {
    await fs.mkdir(path.join(dir, d), { recursive: true });
  }
  await fs.writeFile(path.join(dir, 'var/lib/dpkg/status'), '');
  await fs.writeFile(path.join(dir, 'etc/apt/sources.list'), sources.map((s) => `${sourceLine(s)}\n`).join(''));
  const q = (s: string) => JSON.stringify(s);
  const config = path.join(dir, 'apt.conf');
  await fs.writeFile(config, [
    `Dir ${q(`${dir}/`)};`,
    `Dir::State::status ${q(path.join(dir, 'var/lib/dpkg/status'))};`,
    // Keys come only from each source's signed-by, never from the host's trusted keyrings.
    `Dir::Etc::Trusted ${q(path.join(dir, 'etc/apt/trusted.gpg'))};`,
    `Dir::Etc::TrustedParts ${q(path.join(dir, 'etc/apt/trusted.gpg.d'))};`,
    `APT::Architecture ${q(debArch)};`,
    `APT::Architectures { ${q(debArch)}; };`,
    'APT::Install-Recommends "false";',
    'APT::Install-Suggests "false";',
    'Acquire::Languages "none";',
    'Debug::NoLocking "true";',
    // The work directory is not readable by _apt; downloads are checked against signed indexes anyway.
    'APT::Sandbox::User "root";',
    '',
  ].join('\n'));
  return { dir, config, listsDir };
}

export interface SimulatedInstall {
  name: string;
  version: string;
  arch: string;
}

/** The `Inst name (version release [arch])` lines of `apt-get install --simulate`. */
export function parseSimulation(lines: readonly string[]): SimulatedInstall[] {
  const out: SimulatedInstall[] = [];
  for (const line of lines) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/.exec(line);
    if (m) out.push({ name: m[1]!.replace(/:.*$/, ''), version: m[2]!, arch: m[3]! });
  }
  return out;
}

export interface IndexEntry {
  source: string;
  sourceVersion: string;
  sha256: string;
}

/** name/version/arch → source and digest, from every Packages index apt downloaded. */
export async function readPackageIndexes(listsDir: string): Promise<Map<string, IndexEntry>> {
  const index = new Map<string, IndexEntry>();
  const files = (await fs.readdir(listsDir)).filter((f) => f.endsWith('_Packages')).sort();
  for (const f of files) {
    let fields: Record<string, string> = {};
    const flush = () => {
      const { Package: name, Version: version, Architecture: arch, SHA256: sha256 } = fields;
      if (name && version && arch && sha256) {
        const m = /^(\S+)(?:\s+\((\S+)\))?$/.exec(fields.Source ?? '');
        index.set(indexKey(name, version, arch), { source: m?.[1] ?? name, sourceVersion: m?.[2] ?? version, sha256 });
      }
      fields = {};
    };
    const lines = readline.createInterface({ input: createReadStream(path.join(listsDir, f)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line === '') flush();
      else if (line[0] !== ' ' && line[0] !== '\t') {
        const colon = line.indexOf(':');
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
      }
    }
    flush();
  }
  return index;
}

export function indexKey(name: string, version: string, arch: string): string {
  return `${name}\0${version}\0${arch}`;
}

/** The newest `Date:` of the downloaded Release files, in seconds since the epoch. */
export async function newestReleaseDate(listsDir: string): Promise<number | undefined> {
  let newest: number | undefined;
  for (const f of (await fs.readdir(listsDir)).filter((n) => n.endsWith('_InRelease') || n.endsWith('_Release'))) {
    const text = await fs.readFile(path.join(listsDir, f), 'utf8');
    const m = /^Date:\s*(.+)$/m.exec(text);
    const ms = m ? Date.parse(m[1]!) : NaN;
    if (Number.isFinite(ms)) newest = Math.max(newest ?? 0, Math.floor(ms / 1000));
  }
  return newest;
}

/** Names of the kernel flavour metapackages (linux-image-<flavour>-<debArch>) in the indexes. */
export function kernelFlavours(index: Map<string, IndexEntry>, debArch: string): string[] {
  const flavours = new Set<string>();
  const suffix = `-${debArch}`;
  for (const key of index.keys()) {
    const name = key.slice(0, key.indexOf('\0'));
    if (!name.startsWith('linux-image-') || !name.endsWith(suffix)) continue;
    const flavour = name.slice('linux-image-'.length, -suffix.length);
    // linux-image-6.1.0-37-cloud-amd64 is a kernel release, not a flavour.
    if (flavour && !/^\d/.test(flavour) && !flavour.endsWith('-dbg') && !flavour.endsWith('-unsigned')) flavours.add(flavour);
  }
  return [...flavours].sort();
}
