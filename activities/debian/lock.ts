// The lock file `resolve` writes and `prepare-root` installs from: the exact package set
// (name, version, arch, source) of one suite and arch, split into the base layer and the
// product's packages. Deterministic JSON: the same indexes give byte-identical locks.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { badInput } from '../failures';
import type { StoreEntry } from '../store';

export const LOCK_FILE = 'packages.lock.json';

export const AptSource = z.object({
  uri: z.string().min(1),
  suite: z.string().min(1),
  components: z.array(z.string().min(1)).min(1),
  /** Keyring file the suite's Release must be signed with. */
  signedBy: z.string().startsWith('/'),
});
export type AptSource = z.infer<typeof AptSource>;

export const LockedPackage = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  /** The .deb's architecture: the Debian arch or `all`. */
  arch: z.string().min(1),
  source: z.string().min(1),
  sourceVersion: z.string().min(1),
  /** sha256 of the .deb as the signed index lists it. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** `base`: essential + Priority:required + apt (shared by every product of the suite/arch). */
  layer: z.enum(['base', 'product']),
});
export type LockedPackage = z.infer<typeof LockedPackage>;

export const Lock = z.object({
  lockVersion: z.literal(1),
  suite: z.string().min(1),
  /** sborka's arch (x86_64) and Debian's (amd64). */
  arch: z.string().min(1),
  debArch: z.string().min(1),
  mirror: z.string().min(1),
  sources: z.array(AptSource).min(1),
  /** The newest Date of the sources' Release files: SOURCE_DATE_EPOCH of everything built from the lock. */
  sourceDateEpoch: z.number().int().min(0),
  requested: z.array(z.string()),
  exclude: z.array(z.string()),
  kernel: z.object({ flavour: z.string(), package: z.string(), release: z.string() }).optional(),
  packages: z.array(LockedPackage).min(1),
});
export type Lock = z.infer<typeof Lock>;

export function lockJson(lock: Lock): string {
  return `${JSON.stringify(Lock.parse(lock), null, 2)}\n`;
}

/** The lock among a step's inputs (the resolve step's outputs). */
export async function readLockFromInputs(stepId: string, inputs: Record<string, StoreEntry>): Promise<Lock> {
  const holders = Object.values(inputs).filter((e) => e.manifest.outputs.files.some((f) => f.path === LOCK_FILE));
  if (holders.length !== 1) {
    throw badInput(`step "${stepId}": needs exactly one input with ${LOCK_FILE} (a resolve step), found ${holders.length}`);
  }
  const text = await fs.readFile(path.join(holders[0]!.outputsDir, LOCK_FILE), 'utf8');
  const parsed = Lock.safeParse(JSON.parse(text));
  if (!parsed.success) throw badInput(`step "${stepId}": ${LOCK_FILE} is not a valid lock: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** apt's file name for a package in /var/cache/apt/archives (an epoch's colon becomes %3a). */
export function debFileName(p: Pick<LockedPackage, 'name' | 'version' | 'arch'>): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
}

/** `name=version` as apt takes it: the pin that makes apt install exactly the locked version. */
export function pinned(p: Pick<LockedPackage, 'name' | 'version'>): string {
  return `${p.name}=${p.version}`;
}
