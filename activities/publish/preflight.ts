// Publishing preflight: before the first build step runs, every publish target of the plan
// is checked (root writable, no escape, owner allowed, signing key usable; registry answers
// and accepts the credentials for a push), so a wrong password fails the build in seconds,
// not after an hour of building.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { parsePlan, type BuildPlan } from '../../plan/plan';
import type { Config } from '../../config/config';
import type { PublishConfig } from '../../publish/config-schema';
import { PublishParams } from '../../publish/params';
import { resolveFilesTarget, resolveRegistryTarget } from '../../publish/targets';
import { dateStamp } from '../../publish/template';
import { loadPublishConfig, registryCredentials } from './config';
import { META_DIR, versionPath } from './files-target';
import { realpathConfined } from './fs-util';
import { OciClient, pushScope } from './oci-client';
import { makeSigner, spawnRunner, type Runner } from './signing';

export interface PreflightCheck {
  variant: string;
  step: string;
  /** The path or reference as planned. */
  target: string;
  ok: boolean;
  reason?: string;
}

export interface PreflightOptions {
  publishConfig: PublishConfig;
  env?: NodeJS.ProcessEnv;
  now?: Date;
  run?: Runner;
  /** Per request; preflight should answer fast. */
  requestTimeoutMs?: number;
}

/** Every publish step of the plan checked; never throws for a failing target (see `ok`). */
export async function preflightPublish(plan: BuildPlan, options: PreflightOptions): Promise<PreflightCheck[]> {
  const run = options.run ?? spawnRunner;
  const now = options.now ?? new Date();
  const cache = new Map<string, Promise<void>>();
  const once = (key: string, check: () => Promise<void>) => {
    let p = cache.get(key);
    if (!p) cache.set(key, (p = check()));
    return p;
  };
  const checks: PreflightCheck[] = [];
  for (const variant of plan.variants) {
    for (const step of variant.steps.filter((s) => s.kind === 'publish')) {
      const params = PublishParams.parse(step.params);
      const owner = params.owner ?? plan.owner;
      const target = params.publish.target === 'files' ? params.publish.path : params.publish.repository;
      try {
        if (params.publish.target === 'files') {
          const template = params.publish.path;
          const resolved = resolveFilesTarget(template, options.publishConfig, owner);
          const { rel } = versionPath(template, resolved.root, { date: dateStamp(now), build: 'preflight', product: params.product, arch: params.arch, variant: variant.id });
          await once(`root:${resolved.root}`, () => checkRoot(resolved.root));
          await checkExistingPrefix(resolved.root, rel);
          await once('signing', async () => {
            const signer = makeSigner(options.publishConfig.signing, run);
            await signer?.check();
          });
        } else {
          const resolved = resolveRegistryTarget(params.publish.repository, options.publishConfig, owner);
          await once(`registry:${resolved.ref.registry}/${resolved.ref.repository}`, async () => {
            const client = new OciClient({
              registry: resolved.ref.registry, plainHttp: resolved.registry.plainHttp,
              credentials: await registryCredentials(resolved.registry, options.env),
              requestTimeoutMs: options.requestTimeoutMs ?? 15_000, retries: 2, retryBaseMs: 250,
            });
            try {
              // A token for push on this repository (Bearer) or the Basic credentials, then an authenticated read.
              await client.ping(pushScope(resolved.ref.repository));
              await client.listTags(resolved.ref.repository);
            } finally {
              await client.close();
            }
          });
        }
        checks.push({ variant: variant.id, step: step.id, target, ok: true });
      } catch (err) {
        checks.push({ variant: variant.id, step: step.id, target, ok: false, reason: (err as Error).message });
      }
    }
  }
  return checks;
}

async function checkRoot(root: string): Promise<void> {
  const st = await fs.stat(root).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`target root ${root} ${err.code === 'ENOENT' ? 'does not exist' : `is unusable: ${err.code}`}`);
  });
  if (!st.isDirectory()) throw new Error(`target root ${root} is not a directory`);
  // Writable where staging goes: the same place the real publish writes first.
  const staging = path.join(root, META_DIR, 'staging');
  try {
    await fs.mkdir(staging, { recursive: true });
    const probe = path.join(staging, `preflight-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(probe, 'sborka preflight\n');
    await fs.rm(probe);
  } catch (err) {
    throw new Error(`target root ${root} is not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The part of the version's path that exists already must not lead out of the root by a symlink. */
async function checkExistingPrefix(root: string, rel: string): Promise<void> {
  const segments = rel.split('/');
  for (let i = 1; i <= segments.length; i++) {
    const p = path.join(root, ...segments.slice(0, i));
    if ((await realpathConfined(root, p)) === undefined) return;
  }
}

export interface PublishActivityDeps {
  config: Config;
  logger: Logger;
  /** Read from $SBORKA_PUBLISH_CONFIG or <stateDir>/publish.json per call when absent. */
  publishConfig?: PublishConfig;
  env?: NodeJS.ProcessEnv;
}

/** The activities publishing adds to a worker: preflightPublish(plan). */
export function createPublishActivities(deps: PublishActivityDeps) {
  return {
    /**
     * Fails (non-retryable, type PublishPreflightFailed) naming every bad target and why;
     * returns the checks when all pass. A plan without publish steps passes at once.
     */
    async preflightPublish(rawPlan: BuildPlan): Promise<{ checks: PreflightCheck[] }> {
      const plan = parsePlan(rawPlan);
      const publishConfig = deps.publishConfig ?? (await loadPublishConfig(deps.config.stateDir, deps.env));
      const checks = await preflightPublish(plan, { publishConfig, ...(deps.env ? { env: deps.env } : {}) });
      const failed = checks.filter((c) => !c.ok);
      for (const c of checks) deps.logger.info({ variant: c.variant, step: c.step, target: c.target, ok: c.ok, reason: c.reason }, 'publish preflight');
      if (failed.length > 0) {
        throw ApplicationFailure.create({
          type: 'PublishPreflightFailed',
          nonRetryable: true,
          message: `publishing preflight failed: ${failed.map((c) => `${c.variant}/${c.step} → ${c.target}: ${c.reason}`).join('; ')}`,
          details: [failed],
        });
      }
      return { checks };
    },
  };
}

export type PublishActivities = ReturnType<typeof createPublishActivities>;
