// The registry target: this arch's image pushed (blobs, then its manifest under a per-arch
// tag), its digest read back and compared, then the multi-arch index under the tag rebuilt
// from every per-arch tag present. Each arch's step rebuilds the index from the registry's
// own tag list and re-checks after writing, so arches publishing at once converge on an
// index holding all of them.
import { archTag, buildIndex, ImageIndex, KNOWN_ARCHES, MEDIA, sha256Digest } from '../../publish/oci';
import type { LayoutImage } from './oci-layout';
import { OciClient, RegistryError } from './oci-client';

export class DigestMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DigestMismatchError';
  }
}

export interface RegistryPushRequest {
  client: OciClient;
  repository: string;
  /** The multi-arch tag; this arch's image also gets `<tag>-<arch>`. */
  tag: string;
  arch: string;
  image: LayoutImage;
  mountFrom?: readonly string[];
  progress?(line: string): void;
}

export interface RegistryPushResult {
  repository: string;
  tag: string;
  archTag: string;
  manifestDigest: string;
  indexDigest: string;
  indexArches: string[];
  blobs: Array<{ digest: string; how: 'exists' | 'mounted' | 'uploaded' }>;
}

export async function pushToRegistry(req: RegistryPushRequest): Promise<RegistryPushResult> {
  const { client, repository, image } = req;
  const blobs: RegistryPushResult['blobs'] = [];
  for (const b of image.blobs) {
    req.progress?.(`blob ${b.digest.slice(0, 19)} (${b.size} bytes)`);
    blobs.push({ digest: b.digest, how: await client.pushBlob(repository, b.digest, b.size, b.file, req.mountFrom) });
  }
  const own = archTag(req.tag, req.arch);
  await client.putManifest(repository, own, image.manifest.mediaType, image.manifest.bytes);
  await verifyManifest(client, repository, own, image.manifest.digest);

  let index: { digest: string; arches: string[] } | undefined;
  for (let round = 0; round < 5; round++) {
    const entries = await archEntries(client, repository, req.tag, { arch: req.arch, digest: image.manifest.digest, size: image.manifest.size, mediaType: image.manifest.mediaType });
    const body = buildIndex(entries);
    const digest = sha256Digest(body);
    const current = await client.getManifest(repository, req.tag);
    if (!current || sha256Digest(current.body) !== digest) {
      await client.putManifest(repository, req.tag, MEDIA.index, body);
    }
    await verifyManifest(client, repository, req.tag, digest);
    // Another arch may have pushed its own tag meanwhile; the index must not lose it.
    const again = await archEntries(client, repository, req.tag, undefined);
    const after = sha256Digest(buildIndex(again));
    index = { digest, arches: entries.map((e) => e.arch).sort() };
    if (after === digest) break;
    req.progress?.(`index ${req.tag} changed under us; merging again`);
  }
  return { repository, tag: req.tag, archTag: own, manifestDigest: image.manifest.digest, indexDigest: index!.digest, indexArches: index!.arches, blobs };
}

/** Reads the manifest back: both the digest the registry states and the bytes it serves must match. */
export async function verifyManifest(client: OciClient, repository: string, reference: string, expected: string): Promise<void> {
  const got = await client.getManifest(repository, reference);
  if (!got) throw new DigestMismatchError(`${repository}:${reference} is missing right after it was pushed`);
  const served = sha256Digest(got.body);
  if (got.digest !== undefined && got.digest !== expected) throw new DigestMismatchError(`${repository}:${reference}: the registry states digest ${got.digest}, we pushed ${expected}`);
  if (served !== expected) throw new DigestMismatchError(`${repository}:${reference}: the registry serves content with digest ${served}, we pushed ${expected}`);
}

type Entry = { arch: string; digest: string; size: number; mediaType: string };

async function archEntries(client: OciClient, repository: string, tag: string, own: Entry | undefined): Promise<Entry[]> {
  const tags = new Set(await client.listTags(repository));
  const entries: Entry[] = [];
  for (const arch of KNOWN_ARCHES) {
    if (own && arch === own.arch) {
      entries.push(own);
      continue;
    }
    if (!tags.has(archTag(tag, arch))) continue;
    const m = await client.getManifest(repository, archTag(tag, arch));
    if (!m) continue; // untagged meanwhile
    if (ImageIndex.safeParse(JSON.parse(m.body.toString('utf8'))).success && /index|list/.test(m.mediaType)) {
      throw new RegistryError(`${repository}:${archTag(tag, arch)} is an index, not one arch's image`);
    }
    entries.push({ arch, digest: sha256Digest(m.body), size: m.body.length, mediaType: m.mediaType || MEDIA.manifest });
  }
  return entries;
}
