// OCI pieces that need no I/O: media types, references, platforms of our arches, and the
// multi-arch image index. Manifests are pushed byte for byte as built, so the digest a
// registry reports can be compared with the one computed here.
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export const MANIFEST_ACCEPT = [MEDIA.index, MEDIA.manifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

export const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');

export const Descriptor = z.object({
  mediaType: z.string(),
  digest: Digest,
  size: z.number().int().min(0),
  platform: z
    .object({ architecture: z.string(), os: z.string(), variant: z.string().optional() })
    .optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

export const ImageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
});
export type ImageManifest = z.infer<typeof ImageManifest>;

export const ImageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageIndex = z.infer<typeof ImageIndex>;

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** OCI platform of each sborka arch (GOARCH names, as registries and runtimes expect). */
const PLATFORMS: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  i586: { architecture: '386' },
  aarch64: { architecture: 'arm64' },
  armh: { architecture: 'arm', variant: 'v7' },
  ppc64le: { architecture: 'ppc64le' },
  riscv64: { architecture: 'riscv64' },
  loongarch64: { architecture: 'loong64' },
  e2kv4: { architecture: 'e2k', variant: 'v4' },
  e2kv5: { architecture: 'e2k', variant: 'v5' },
  e2kv6: { architecture: 'e2k', variant: 'v6' },
};

export const KNOWN_ARCHES = Object.keys(PLATFORMS);

export function platformOf(arch: string): { architecture: string; os: string; variant?: string } {
  const p = PLATFORMS[arch];
  if (!p) throw new Error(`no OCI platform for arch ${arch}`);
  return { os: 'linux', ...p };
}

export interface Reference {
  /** host[:port] */
  registry: string;
  /** Repository path inside the registry (alt/regular-jeos). */
  repository: string;
  tag?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** host[:port]/path[:tag] as a recipe writes it; throws naming the bad part. */
export function parseReference(ref: string): Reference {
  const slash = ref.indexOf('/');
  if (slash <= 0) throw new Error(`registry reference ${JSON.stringify(ref)} must be host/repository[:tag]`);
  const registry = ref.slice(0, slash);
  let rest = ref.slice(slash + 1);
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`registry reference ${JSON.stringify(ref)}: tag ${JSON.stringify(tag)} is not a valid tag`);
  }
  if (!/^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/.test(registry)) throw new Error(`registry reference ${JSON.stringify(ref)}: ${JSON.stringify(registry)} is not a registry host`);
  const bad = rest.split('/').find((c) => !COMPONENT.test(c));
  if (bad !== undefined) throw new Error(`registry reference ${JSON.stringify(ref)}: repository component ${JSON.stringify(bad)} must be lower-case letters, digits and separators . _ __ -`);
  return { registry, repository: rest, ...(tag ? { tag } : {}) };
}

/** Problems of a registry target as a recipe writes it (after the planner's expansion); for `check`. */
export function checkRegistryReference(ref: string): string[] {
  try {
    parseReference(ref);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * The multi-arch index for the given per-arch manifests: sorted by platform so that the same
 * set of images always gives the same bytes, hence the same digest.
 */
export function buildIndex(entries: ReadonlyArray<{ digest: string; size: number; mediaType: string; arch: string }>, annotations?: Record<string, string>): Buffer {
  const manifests = [...entries]
    .sort((a, b) => a.arch.localeCompare(b.arch))
    .map((e) => ({ mediaType: e.mediaType, digest: e.digest, size: e.size, platform: platformOf(e.arch) }));
  const index = { schemaVersion: 2, mediaType: MEDIA.index, manifests, ...(annotations ? { annotations } : {}) };
  return Buffer.from(JSON.stringify(index));
}

/** Per-arch tag of an image that also goes into the multi-arch index under `tag`. */
export function archTag(tag: string, arch: string): string {
  return `${tag}-${arch}`;
}
