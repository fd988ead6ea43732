// `oci`: an OCI image layout (oci-layout, index.json, blobs/sha256/…) packed as a tar, the
// form `skopeo copy oci-archive:` and `podman load` read. One layer: the root tar gzipped
// without name or time, on every core (compress.ts); config, manifest and index are written here, their JSON with a
// fixed key order, every time stamp the root's SOURCE_DATE_EPOCH.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../../plan/plan';
import { badInput } from '../../failures';
import { sha256File } from '../../store';
import { linkOrCopy } from '../mmdebstrap';
import { finish, sha256, type ImageRequest, type RootSource, type WriterContext, type WrittenImage } from './common';
import { compressArgv } from './compress';

const OCI_PLATFORM: Partial<Record<Arch, { architecture: string; variant?: string }>> = {
  x86_64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64', variant: 'v8' },
  riscv64: { architecture: 'riscv64' },
};

const MEDIA = {
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  config: 'application/vnd.oci.image.config.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
};

interface Descriptor { mediaType: string; digest: string; size: number }

export async function writeOci(w: WriterContext, src: RootSource, req: ImageRequest, outputsDir: string): Promise<WrittenImage> {
  const platform = OCI_PLATFORM[req.arch];
  if (!platform) throw badInput(`oci: arch ${req.arch} has no OCI platform name in the debian toolchain`);
  const layout = path.join(w.workDir, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const created = new Date(src.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z');
  const tag = req.output.tag ?? req.branch;

  w.progress({ phase: 'compressing layer' });
  // A link, not a copy (as the tar writer): the compressor unlinks this name only.
  const layerTar = path.join(w.workDir, 'layer.tar');
  await linkOrCopy(src.rootfsTar, layerTar);
  const gz = compressArgv('gzip', layerTar);
  await w.run(gz.argv);
  const layer = await addBlob(blobs, gz.out, MEDIA.layer);

  const config = {
    created,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/bash'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${src.rootfsSha256}`] },
    history: [{ created, created_by: `sborka: debian ${req.branch} root` }],
  };
  const configDesc = await addJsonBlob(blobs, config, MEDIA.config);
  const manifest = {
    schemaVersion: 2, mediaType: MEDIA.manifest, config: configDesc, layers: [layer],
    annotations: { 'org.opencontainers.image.created': created },
  };
  const manifestDesc = await addJsonBlob(blobs, manifest, MEDIA.manifest);
  const index = {
    schemaVersion: 2, mediaType: MEDIA.index,
    manifests: [{
      ...manifestDesc,
      platform: { architecture: platform.architecture, os: 'linux', ...(platform.variant ? { variant: platform.variant } : {}) },
      annotations: { 'org.opencontainers.image.ref.name': tag },
    }],
  };
  await fs.writeFile(path.join(layout, 'index.json'), JSON.stringify(index));
  await fs.writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  w.progress({ phase: 'packing layout' });
  const out = path.join(w.workDir, 'image.oci.tar');
  await w.run([
    'tar', '--create', `--file=${out}`, `--directory=${layout}`, '--sort=name', `--mtime=@${src.sourceDateEpoch}`,
    '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '--', 'oci-layout', 'index.json', 'blobs',
  ]);
  return finish(out, outputsDir, req.fileName, 'oci', {
    layout: 'oci-archive', tag, platform: `linux/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`,
    manifestDigest: manifestDesc.digest, configDigest: configDesc.digest, layerDigest: layer.digest, diffId: `sha256:${src.rootfsSha256}`,
  });
}

async function addBlob(blobs: string, file: string, mediaType: string): Promise<Descriptor> {
  const digest = await sha256File(file);
  const { size } = await fs.stat(file);
  await fs.rename(file, path.join(blobs, digest));
  return { mediaType, digest: `sha256:${digest}`, size };
}

async function addJsonBlob(blobs: string, value: unknown, mediaType: string): Promise<Descriptor> {
  const text = JSON.stringify(value);
  const digest = sha256(text);
  await fs.writeFile(path.join(blobs, digest), text);
  return { mediaType, digest: `sha256:${digest}`, size: Buffer.byteLength(text) };
}
