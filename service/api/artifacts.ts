// Artifacts of a build: the plan names them (step + path), the variant's status gives the
// step's store key, and the store entry's manifest gives each file's sha256 and size. The
// bytes come from the store, never from a path a status names: this host's store directory,
// which with a remote store is this host's cache in front of it (a missing entry is pulled,
// every file checked on the way). Listing reads only the remote entry's manifest; a download
// pulls. What is served is hashed as it goes out, and its last piece is held back until the
// digest matches: a file that went bad on this disk is never delivered whole.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ociStoreFor } from '../../activities/log-store';
import { StepStore } from '../../activities/store';
import { openStepStore } from '../../activities/store-remote';
import type { Config } from '../../config/config';
import type { BuildPlan } from '../../plan/plan';
import type { VariantStatus } from '../../workflows/status';

export const ArtifactInfo = z.object({
  variantId: z.string(),
  name: z.string(),
  format: z.string(),
  step: z.string(),
  path: z.string(),
  available: z.boolean().describe('false while (or because) its step has not produced it'),
  size: z.number().int().optional(),
  sha256: z.string().optional(),
  /** Where to download it with the token; GET …/link gives a short-lived URL for a browser. */
  url: z.string().optional(),
});
export type ArtifactInfo = z.infer<typeof ArtifactInfo>;

export interface ResolvedFile extends ArtifactInfo {
  /** The store entry that holds it, in the build owner's namespace (or the shared one). */
  key?: string;
  tenant?: string;
}

const TITLE = 'org.opencontainers.image.title';

export async function resolveArtifacts(config: Config, buildId: string, plan: BuildPlan, variants: VariantStatus[]): Promise<ResolvedFile[]> {
  // A partner's build reads its own namespace, then the shared store (activities/store.ts).
  const tenant = plan.owner.kind === 'partner' ? plan.owner.name : undefined;
  const local = tenant === undefined ? new StepStore(config.storeDir) : new StepStore(config.storeDir).forTenant(tenant);
  const out: ResolvedFile[] = [];
  for (const v of plan.variants) {
    const status = variants.find((s) => s.variantId === v.id);
    for (const a of v.artifacts) {
      const base: ResolvedFile = { variantId: v.id, name: a.name, format: a.format, step: a.step, path: a.path, available: false };
      const step = status?.steps.find((s) => s.id === a.step);
      const key = step?.key && ['succeeded', 'cached'].includes(step.state) ? step.key : undefined;
      const listed = key === undefined ? undefined : ((await localListing(local, key, a.path)) ?? (await remoteListing(config, tenant, key, a.path)));
      if (!listed) {
        out.push(base);
        continue;
      }
      out.push({
        ...base,
        available: true,
        size: listed.size,
        sha256: listed.sha256,
        url: `/api/builds/${encodeURIComponent(buildId)}/artifacts/${encodeURIComponent(v.id)}/${encodeURIComponent(a.name)}`,
        key,
        ...(tenant === undefined ? {} : { tenant }),
      });
    }
  }
  return out;
}

async function localListing(store: StepStore, key: string, file: string): Promise<{ size: number; sha256: string } | undefined> {
  const entry = await store.lookup(key, { touch: false }).catch(() => undefined);
  return entry?.manifest.outputs.files.find((f) => f.path === file);
}

/** From the remote entry's manifest alone (a list must not pull gigabytes); the download checks it all. */
async function remoteListing(config: Config, tenant: string | undefined, key: string, file: string): Promise<{ size: number; sha256: string } | undefined> {
  const oci = config.remoteStore ? await ociStoreFor(config).catch(() => undefined) : undefined;
  if (!oci) return undefined;
  for (const ns of tenant === undefined ? [undefined] : [tenant, undefined]) {
    const found = await oci.manifestOf(ns, key).catch(() => undefined);
    if (!found || !('entry' in found)) continue;
    const layer = found.entry.layers.find((l) => l.annotations?.[TITLE] === file);
    return layer ? { size: layer.size, sha256: layer.digest.slice('sha256:'.length) } : undefined;
  }
  return undefined;
}

export interface ArtifactFile {
  /** Resolved, inside this host's store directory. */
  file: string;
  size: number;
  sha256: string;
}

/**
 * The artifact's file in this host's store, pulled from the remote store into the local
 * cache when it is not here (checked against every digest on the way), or undefined when no
 * sound entry holds it.
 */
export async function artifactFile(config: Config, a: ResolvedFile, logger?: Logger): Promise<ArtifactFile | undefined> {
  if (!a.available || a.key === undefined) return undefined;
  const shared = openStepStore(config, logger);
  const store = a.tenant === undefined ? shared : shared.forTenant(a.tenant);
  const entry = await store.lookup(a.key, { touch: false });
  const listed = entry?.manifest.outputs.files.find((f) => f.path === a.path);
  if (!entry || !listed) return undefined;
  const storeReal = fs.realpathSync(config.storeDir);
  let real: string;
  try {
    real = fs.realpathSync(path.join(entry.outputsDir, a.path));
  } catch {
    return undefined; // removed by gc since
  }
  if (!real.startsWith(storeReal + path.sep)) return undefined;
  return { file: real, size: listed.size, sha256: listed.sha256 };
}

/**
 * The file's bytes, hashed on the way; the last piece is sent only when size and sha256
 * match, else the stream fails (the client sees a body shorter than its Content-Length).
 */
export function checkedStream(file: string, sha256: string, size: number): Readable {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  let n = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      n += chunk.length;
      const out = held;
      held = chunk;
      done(null, out);
    },
    flush(done) {
      const got = hash.digest('hex');
      if (n !== size || got !== sha256) done(new Error(`${path.basename(file)}: ${n} bytes with sha256 ${got}, the store says ${size} bytes with ${sha256}; not served`));
      else done(null, held);
    },
  });
  return pipeline(fs.createReadStream(file), check, () => undefined);
}

export function publicInfo(a: ResolvedFile): ArtifactInfo {
  const { key: _key, tenant: _tenant, ...rest } = a;
  return rest;
}
