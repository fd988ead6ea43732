// Publishing configuration (roots, registries, credentials, signing keys, retention): the
// operator's side of publishing, kept out of recipes so a recipe cannot name a secret.
import { z } from 'zod';

/** "community", "maintainer", "maintainer:<team>", "partner:<name>" or "*". */
const OwnerGrant = z.string().regex(/^(\*|community|maintainer(:[a-z0-9][a-z0-9._+-]*)?|partner:[a-z0-9][a-z0-9._+-]*)$/);

export const FilesRoot = z.object({
  root: z.string().startsWith('/'),
  owners: z.array(OwnerGrant).default(['community', 'maintainer']),
  /** Nightlies kept per product and arch under this root. */
  keep: z.number().int().min(1).optional(),
});

export const RegistryConfig = z.object({
  /** host[:port] as in the recipe's references. */
  host: z.string().min(1),
  /** Only repositories under this path (alt/); all when absent. */
  prefix: z.string().optional(),
  owners: z.array(OwnerGrant).default(['community', 'maintainer']),
  /** http:// instead of https:// (a registry on loopback, a test). */
  plainHttp: z.boolean().default(false),
  username: z.string().optional(),
  /** The password or token comes from an environment variable or a secret file, never from this file. */
  passwordEnv: z.string().optional(),
  passwordFile: z.string().optional(),
  /** A ready bearer token (CI-issued); skips the token exchange. */
  tokenEnv: z.string().optional(),
  tokenFile: z.string().optional(),
  /** Blobs above this size are uploaded in chunks of this size. */
  chunkSizeBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  /** Repositories of this registry to mount existing blobs from. */
  mountFrom: z.array(z.string()).default([]),
  requestTimeoutMs: z.number().int().positive().default(60_000),
  retries: z.number().int().min(0).max(20).default(5),
  retryBaseMs: z.number().int().min(1).default(500),
});

export const SigningConfig = z.object({
  gpg: z.object({ key: z.string().min(1), homedir: z.string().optional(), passphraseFile: z.string().optional() }).optional(),
  /** An unencrypted minisign secret key (minisign -G -W). */
  minisign: z.object({ secretKey: z.string().min(1), publicKey: z.string().optional() }).optional(),
  /** Explicitly publish unsigned (a local demo); otherwise a files target needs a key. */
  unsigned: z.boolean().default(false),
});

export const PublishConfig = z.object({
  files: z.array(FilesRoot).default([]),
  registries: z.array(RegistryConfig).default([]),
  signing: SigningConfig.default({ unsigned: false }),
  /** Default nightlies kept per product and arch. */
  keep: z.number().int().min(1).default(7),
});

export type FilesRoot = z.infer<typeof FilesRoot>;
export type RegistryConfig = z.infer<typeof RegistryConfig>;
export type SigningConfig = z.infer<typeof SigningConfig>;
export type PublishConfig = z.infer<typeof PublishConfig>;
export type PublishConfigInput = z.input<typeof PublishConfig>;

export type OwnerLike = { kind: 'community' } | { kind: 'maintainer'; team: string } | { kind: 'partner'; name: string };

export function ownerMayUse(grants: readonly string[], owner: OwnerLike): boolean {
  return grants.some((g) => {
    if (g === '*') return true;
    if (owner.kind === 'community') return g === 'community';
    if (owner.kind === 'maintainer') return g === 'maintainer' || g === `maintainer:${owner.team}`;
    return g === `partner:${owner.name}`;
  });
}

export function describeOwner(owner: OwnerLike): string {
  return owner.kind === 'community' ? 'community' : owner.kind === 'maintainer' ? `maintainer:${owner.team}` : `partner:${owner.name}`;
}
