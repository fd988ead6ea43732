// The `publish` step kind: a files target (versioned, signed, atomic) or a registry target
// (OCI push + multi-arch index). It is not cacheable: every run checks the target again, and
// a repeated run of the same build changes nothing there.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { PublishConfig } from '../../publish/config-schema';
import { KNOWN_ARCHES, isValidTag, platformOf } from '../../publish/oci';
import { PublishParams } from '../../publish/params';
import { PermissionError, resolveFilesTarget, resolveRegistryTarget } from '../../publish/targets';
import { ConfinementError, dateStamp } from '../../publish/template';
import { badInput, stepFailed } from '../failures';
import { defineKind, type KindContext, type KindExecutor } from '../kinds/registry';
import { ArtifactError, resolveArtifacts, type ResolvedArtifact } from './artifacts';
import { debCacheDir } from '../debian/mmdebstrap';
import { changesFiles } from './changes-files';
import { loadPublishConfig, registryCredentials } from './config';
import { copiedFile, publishVersion, versionPath, VersionConflictError, type PublishFile } from './files-target';
import { OciClient, RegistryAuthError, RegistryError } from './oci-client';
import { readLayoutImage } from './oci-layout';
import { DigestMismatchError, pushToRegistry } from './registry-target';
import { makeSigner, type Runner } from './signing';

export interface PublishKindDeps {
  /** Read from $SBORKA_PUBLISH_CONFIG or <stateDir>/publish.json for each step when absent. */
  publishConfig?: PublishConfig;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
  /** After each file lands in staging (tests inject crashes here). */
  afterFile?(name: string): Promise<void> | void;
}

/** Repositories this worker pushed to, per registry: candidates to mount blobs from. */
const pushedRepos = new Map<string, Set<string>>();

export function publishKind(deps: PublishKindDeps = {}): KindExecutor {
  return defineKind('publish', async (ctx) => {
    // Parsed again with publishing's own (wider) schema: it reads the fields the planner is asked to add.
    const params = PublishParams.parse(ctx.step.params);
    const config = deps.publishConfig ?? (await loadPublishConfig(ctx.config.stateDir, deps.env));
    try {
      const artifacts = resolveArtifacts(params.artifacts, ctx.inputs);
      const receipt = params.publish.target === 'files'
        ? await publishFilesStep(ctx, params, params.publish.path, artifacts, config, deps)
        : await publishRegistryStep(ctx, params, params.publish.repository, artifacts, config, deps);
      await fs.writeFile(path.join(ctx.outputsDir, 'publish.json'), `${JSON.stringify(receipt, null, 2)}\n`);
      return { values: receipt };
    } catch (err) {
      throw asPublishFailure(err, ctx.step.id);
    }
  });
}

/** When the build was made: the newest of its inputs' store entries, so a retry tomorrow keeps today's {date}. */
function builtAt(inputs: KindContext['inputs'], now: Date): Date {
  const times = Object.values(inputs).map((e) => Date.parse(e.manifest.createdAt)).filter((t) => Number.isFinite(t));
  return times.length > 0 ? new Date(Math.max(...times)) : now;
}

async function publishFilesStep(ctx: KindContext, params: PublishParams, template: string, artifacts: ResolvedArtifact[], config: PublishConfig, deps: PublishKindDeps) {
  const now = deps.now?.() ?? new Date();
  const { buildId, variantId } = ctx;
  const target = resolveFilesTarget(template, config, params.owner);
  const built = builtAt(ctx.inputs, now);
  const { rel, versionIndex } = versionPath(template, target.root, { date: dateStamp(built), build: buildIdSegment(buildId), product: params.product, arch: params.arch, variant: params.variant ?? variantId });
  const files: PublishFile[] = [];
  for (const a of artifacts) {
    const base = path.posix.basename(a.path);
    for (const f of a.files) {
      const name = f.rel ? `${base}/${f.rel}` : base;
      files.push(copiedFile({ name, artifact: a.name, format: a.format, sha256: f.sha256, size: f.size }, path.join(a.entry.outputsDir, a.path, f.rel)));
    }
  }
  const runner: Runner = async (argv) => {
    await ctx.run(argv);
  };
  const signer = makeSigner(config.signing, runner);
  const license = ctx.inputs['verify-licenses']?.manifest.outputs.values;
  const lock = artifacts.find((a) => a.name === 'lock');
  const report = artifacts.find((a) => a.name === 'license-report' && !a.isDir);
  const buildJson = {
    schema: 'sborka.build/1',
    product: params.product,
    variant: params.variant ?? variantId,
    ...(params.variantOf ? { variantOf: params.variantOf } : {}),
    arch: params.arch,
    ...(params.branch ? { branch: params.branch } : {}),
    ...(params.version ? { version: params.version } : {}),
    ...(params.owner ? { owner: params.owner } : {}),
    ...(params.recipeDigest ? { recipeDigest: params.recipeDigest } : {}),
    buildId,
    toolchain: ctx.toolchain,
    builtAt: built.toISOString(),
    publishedAt: now.toISOString(),
    ...(lock ? { lock: { file: path.posix.basename(lock.path), sha256: lock.files[0]?.sha256 } } : {}),
    ...(license ? { license: { verdict: license.verdict ?? null, summary: license } } : {}),
    // Every input's store key and values: image digests, tool versions, the verdict; the build's provenance.
    steps: Object.fromEntries(Object.entries(ctx.inputs).sort(([a], [b]) => a.localeCompare(b)).map(([id, e]) => [id, { key: e.key, kind: e.manifest.kind, createdAt: e.manifest.createdAt, values: e.manifest.outputs.values }])),
  };
  // CHANGES.md and changes.json: what changed since the version published before this one.
  files.push(...(await changesFiles({
    root: target.root, rel, versionIndex, buildJson, files, debDir: debCacheDir(ctx.config), workDir: ctx.workDir, storeDir: ctx.config.storeDir,
    ...(lock ? { lockFile: path.join(lock.entry.outputsDir, lock.path) } : {}),
    ...(report ? { licenseReport: path.join(report.entry.outputsDir, report.path) } : {}),
  })));
  ctx.progress({ phase: 'publishing', lastLine: `${target.root}/${rel}` });
  const result = await publishVersion({
    root: target.root, rel, versionIndex, files, buildJson, ...(signer ? { signer } : {}),
    signatureComment: `sborka ${params.product} ${params.arch} build ${buildId}`,
    keep: params.keep ?? target.keep,
    record: { buildId, variant: params.variant ?? variantId, extra: { product: params.product, arch: params.arch } },
    signal: ctx.signal,
    progress: (line) => ctx.progress({ phase: 'publishing', lastLine: line }),
    ...(deps.afterFile ? { afterFile: deps.afterFile } : {}),
  });
  return {
    target: 'files', status: result.status, root: target.root, dir: result.dir,
    ...(result.latest ? { latest: result.latest } : {}), removed: result.removed,
    files: result.files.map((f) => ({ name: f.name, sha256: f.sha256, size: f.size })),
    signatures: signer?.suffixes ?? [],
  };
}

async function publishRegistryStep(ctx: KindContext, params: PublishParams, reference: string, artifacts: ResolvedArtifact[], config: PublishConfig, deps: PublishKindDeps) {
  const oci = artifacts.filter((a) => a.format === 'oci');
  if (oci.length !== 1) throw new ArtifactError(`a registry target takes exactly one OCI image per arch; this step has ${oci.length} (${artifacts.map((a) => `${a.name}:${a.format}`).join(', ')})`);
  const a = oci[0]!;
  let layoutDir = path.join(a.entry.outputsDir, a.path);
  if (!a.isDir) {
    // An oci-archive: unpacked into scratch space; the blobs are checked by digest when read.
    layoutDir = path.join(ctx.workDir, 'oci-layout');
    await fs.mkdir(layoutDir, { recursive: true });
    await ctx.run(['tar', '--extract', '--no-same-owner', `--file=${path.join(a.entry.outputsDir, a.path)}`, `--directory=${layoutDir}`]);
  }
  const image = await readLayoutImage(layoutDir, params.arch);
  const target = resolveRegistryTarget(reference, config, params.owner);
  const tag = target.ref.tag ?? params.tag ?? tagFromRefName(image.refName, params.arch) ?? 'latest';
  if (!isValidTag(tag)) throw badInput(`step "${ctx.step.id}": tag ${JSON.stringify(tag)} is not a valid OCI tag`);
  const credentials = await registryCredentials(target.registry, deps.env);
  const client = new OciClient({
    registry: target.ref.registry, plainHttp: target.registry.plainHttp, credentials,
    requestTimeoutMs: target.registry.requestTimeoutMs, retries: target.registry.retries, retryBaseMs: target.registry.retryBaseMs,
    chunkSizeBytes: target.registry.chunkSizeBytes, signal: ctx.signal,
    log: (line) => ctx.progress({ phase: 'pushing', lastLine: line }),
  });
  const known = pushedRepos.get(target.ref.registry) ?? new Set<string>();
  try {
    const result = await pushToRegistry({
      client, repository: target.ref.repository, tag, arch: params.arch, image,
      mountFrom: [...target.registry.mountFrom, ...known],
      progress: (line) => ctx.progress({ phase: 'pushing', lastLine: line }),
    });
    known.add(target.ref.repository);
    pushedRepos.set(target.ref.registry, known);
    return { target: 'registry', status: 'pushed', registry: target.ref.registry, ...result };
  } finally {
    await client.close();
  }
}

/** "bookworm-x86_64" → "bookworm": the multi-arch tag is the per-arch one without its arch. */
export function tagFromRefName(refName: string | undefined, arch: string): string | undefined {
  if (!refName) return undefined;
  const names = [arch, platformOf(arch).architecture];
  for (const n of names) {
    for (const re of [new RegExp(`[-_.]${escapeRe(n)}$`), new RegExp(`^${escapeRe(n)}[-_.]`), new RegExp(`[-_.]${escapeRe(n)}(?=[-_.])`)]) {
      const stripped: string = refName.replace(re, '');
      if (stripped !== refName && stripped !== '') return stripped;
    }
    if (refName === n) return undefined;
  }
  return KNOWN_ARCHES.includes(refName) ? undefined : refName;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function buildIdSegment(buildId: string): string {
  return buildId.replace(/[^A-Za-z0-9._+@=,~-]/g, '_').replace(/^[.]+/, '_');
}

function asPublishFailure(err: unknown, stepId: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  const message = `step "${stepId}": ${(err as Error).message ?? String(err)}`;
  if (err instanceof ConfinementError || err instanceof PermissionError) {
    return ApplicationFailure.create({ type: 'PolicyViolation', message, nonRetryable: true });
  }
  if (err instanceof VersionConflictError || err instanceof ArtifactError || err instanceof RegistryAuthError) return badInput(message);
  if (err instanceof DigestMismatchError) return stepFailed(message);
  if (err instanceof RegistryError) return err.retryable ? stepFailed(message) : badInput(message);
  return err;
}
