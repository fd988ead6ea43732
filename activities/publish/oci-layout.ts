// Reads an OCI image layout (a directory, or a tar of one as `skopeo copy ... oci-archive:`
// writes): the one image manifest for an arch, its config and layers, each checked by digest.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ImageIndex, ImageManifest, MEDIA, platformOf, sha256Digest, type Descriptor } from '../../publish/oci';
import { sha256OfFile } from './fs-util';

export interface LayoutImage {
  layoutDir: string;
  manifest: { digest: string; size: number; mediaType: string; bytes: Buffer };
  /** config first, then layers, with their files in the layout. */
  blobs: Array<Descriptor & { file: string }>;
  /** org.opencontainers.image.ref.name of the image in index.json, when set. */
  refName?: string;
}

export function blobPath(layoutDir: string, digest: string): string {
  const [algo, hex] = digest.split(':');
  if (algo !== 'sha256' || !hex || !/^[0-9a-f]{64}$/.test(hex)) throw new Error(`unsupported digest ${digest}`);
  return path.join(layoutDir, 'blobs', 'sha256', hex);
}

async function readBlob(layoutDir: string, d: Descriptor): Promise<Buffer> {
  const bytes = await fs.readFile(blobPath(layoutDir, d.digest));
  if (sha256Digest(bytes) !== d.digest || bytes.length !== d.size) throw new Error(`OCI layout ${layoutDir}: blob ${d.digest} does not match its descriptor`);
  return bytes;
}

/** The image for `arch` in the layout; a layout with a single image gives that one. */
export async function readLayoutImage(layoutDir: string, arch: string): Promise<LayoutImage> {
  const layoutFile = await fs.readFile(path.join(layoutDir, 'oci-layout'), 'utf8').catch(() => {
    throw new Error(`${layoutDir} is not an OCI image layout (no oci-layout file)`);
  });
  if ((JSON.parse(layoutFile) as { imageLayoutVersion?: string }).imageLayoutVersion !== '1.0.0') throw new Error(`${layoutDir}: unsupported imageLayoutVersion`);
  const index = ImageIndex.parse(JSON.parse(await fs.readFile(path.join(layoutDir, 'index.json'), 'utf8')));
  let desc = pick(index.manifests, arch, layoutDir);
  const refName = desc.annotations?.['org.opencontainers.image.ref.name'];
  // A nested index (multi-platform layout): descend to this arch's image.
  for (let depth = 0; desc.mediaType === MEDIA.index || desc.mediaType === MEDIA.dockerList; depth++) {
    if (depth > 3) throw new Error(`${layoutDir}: image indexes nested too deep`);
    const nested = ImageIndex.parse(JSON.parse((await readBlob(layoutDir, desc)).toString('utf8')));
    desc = pick(nested.manifests, arch, layoutDir);
  }
  const bytes = await readBlob(layoutDir, desc);
  const manifest = ImageManifest.parse(JSON.parse(bytes.toString('utf8')));
  const blobs: LayoutImage['blobs'] = [];
  for (const d of [manifest.config, ...manifest.layers]) {
    const file = blobPath(layoutDir, d.digest);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) throw new Error(`${layoutDir}: blob ${d.digest} is missing`);
    if (st.size !== d.size || `sha256:${await sha256OfFile(file)}` !== d.digest) throw new Error(`${layoutDir}: blob ${d.digest} does not match its descriptor`);
    blobs.push({ ...d, file });
  }
  const mediaType = manifest.mediaType ?? desc.mediaType ?? MEDIA.manifest;
  return { layoutDir, manifest: { digest: desc.digest, size: desc.size, mediaType, bytes }, blobs, ...(refName ? { refName } : {}) };
}

function pick(manifests: Descriptor[], arch: string, layoutDir: string): Descriptor {
  if (manifests.length === 1) return manifests[0]!;
  const want = platformOf(arch);
  const hit = manifests.filter((m) => m.platform?.architecture === want.architecture && (want.variant === undefined || m.platform.variant === want.variant));
  if (hit.length !== 1) throw new Error(`${layoutDir}: ${manifests.length} images and ${hit.length} for ${arch}; cannot tell which to push`);
  return hit[0]!;
}
