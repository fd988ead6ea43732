import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { createPublishActivities, preflightPublish } from '../../activities/publish/preflight';
import type { StepInput, StepResult } from '../../plan/step-contract';
import { parsePlan, type PlanInput } from '../../plan/plan';
import { PublishConfig } from '../../publish/config-schema';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from '../activities/helpers';
import { makeOciLayout, sha256, startFaultProxy, startRegistry, storeEntry, type Registry } from './helpers';

let dir: string;
let config: Config;
let registry: Registry;
const env = { SBORKA_TEST_REGISTRY_PASSWORD: 'correct horse', SBORKA_TEST_WRONG_PASSWORD: 'wrong' };

beforeAll(async () => {
  dir = makeTmpDir('sborka-registry-');
  config = testConfig(path.join(dir, 'state'));
  fs.mkdirSync(path.join(dir, 'registry'));
  registry = await startRegistry(path.join(dir, 'registry'), { pusher: env.SBORKA_TEST_REGISTRY_PASSWORD });
});
afterAll(async () => {
  await registry?.stop();
  removeDir(dir);
});

function publishConfig(host: string, passwordEnv = 'SBORKA_TEST_REGISTRY_PASSWORD', extra: Record<string, unknown> = {}): PublishConfig {
  return PublishConfig.parse({
    registries: [{ host, plainHttp: true, username: 'pusher', passwordEnv, chunkSizeBytes: 1024, retryBaseMs: 10, ...extra }],
  });
}

function run(input: StepInput, pc: PublishConfig): Promise<StepResult> {
  const kinds = defaultRegistry({ publish: { publishConfig: pc, env } });
  const { runStep } = createActivities({ config, logger: silentLogger, registry: kinds });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, input);
}

/** A build-oci store entry holding an OCI layout directory, as the debian image writer leaves it. */
async function ociInput(arch: 'x86_64' | 'aarch64', size = 4096): Promise<{ key: string; manifestDigest: string }> {
  const layout = fs.mkdtempSync(path.join(dir, `layout-${arch}-`));
  const made = makeOciLayout(layout, arch === 'x86_64' ? 'amd64' : 'arm64', `bookworm-${arch}`, size);
  const key = await storeEntry(config.storeDir, 'build', {}, { digest: made.manifestDigest }, { oci: layout });
  return { key, manifestDigest: made.manifestDigest };
}

function pushStep(arch: string, reference: string, key: string): StepInput {
  return stepInput({
    id: 'publish-registry', kind: 'publish', needs: ['build-oci'], cacheable: false,
    params: { publish: { target: 'registry', repository: reference }, product: 'debian-container', arch, artifacts: ['oci'] },
  }, { inputs: { 'build-oci': key } });
}

const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const creds = () => ['--creds', `pusher:${env.SBORKA_TEST_REGISTRY_PASSWORD}`, '--tls-verify=false'];

describe('registry target', () => {
  it('pushes both arches (chunked uploads) into one multi-arch index that skopeo pulls back with the same digests', async () => {
    const pc = publishConfig(registry.host);
    const images: Record<string, string> = {};
    let last: StepResult | undefined;
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const { key, manifestDigest } = await ociInput(arch, 6000);
      images[arch] = manifestDigest;
      last = await run(pushStep(arch, `${registry.host}/alt/debian-container`, key), pc);
      expect(last.outputs.values).toMatchObject({ target: 'registry', tag: 'bookworm', archTag: `bookworm-${arch}`, manifestDigest });
    }
    expect(last!.outputs.values.indexArches).toEqual(['aarch64', 'x86_64']);
    const rawIndex = skopeo('inspect', '--raw', ...creds(), `docker://${registry.host}/alt/debian-container:bookworm`);
    expect(`sha256:${sha256(rawIndex)}`).toBe(last!.outputs.values.indexDigest);
    const index = JSON.parse(rawIndex);
    expect(index.manifests.map((m: { platform: { architecture: string }; digest: string }) => [m.platform.architecture, m.digest]).sort()).toEqual([
      ['amd64', images.x86_64], ['arm64', images.aarch64],
    ]);
    // Pull everything back and compare manifests byte for byte by digest.
    const out = path.join(dir, 'pulled');
    skopeo('copy', '--all', '--src-creds', `pusher:${env.SBORKA_TEST_REGISTRY_PASSWORD}`, '--src-tls-verify=false', `docker://${registry.host}/alt/debian-container:bookworm`, `oci:${out}:bookworm`);
    const pulledIndex = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'));
    expect(pulledIndex.manifests[0].digest).toBe(last!.outputs.values.indexDigest);
    for (const digest of Object.values(images)) expect(fs.existsSync(path.join(out, 'blobs', 'sha256', digest.slice(7)))).toBe(true);
    const armRaw = skopeo('inspect', '--raw', ...creds(), `docker://${registry.host}/alt/debian-container:bookworm-aarch64`);
    expect(`sha256:${sha256(armRaw)}`).toBe(images.aarch64);
    const armConfig = JSON.parse(skopeo('inspect', '--config', '--override-arch', 'arm64', ...creds(), `docker://${registry.host}/alt/debian-container:bookworm`));
    expect(armConfig.architecture).toBe('arm64');

    // A second push of the same image: every blob exists, the index stays the same.
    const again = await run(pushStep('aarch64', `${registry.host}/alt/debian-container`, (await ociInputSame())), pc);
    expect(again.outputs.values.indexDigest).toBe(last!.outputs.values.indexDigest);
    expect((again.outputs.values.blobs as Array<{ how: string }>).every((b) => b.how === 'exists')).toBe(true);

    async function ociInputSame(): Promise<string> {
      // The aarch64 input of the loop above, found again in the store by its digest value.
      const store = path.join(config.storeDir, 'objects');
      for (const p of fs.readdirSync(store)) for (const k of fs.readdirSync(path.join(store, p))) {
        const m = JSON.parse(fs.readFileSync(path.join(store, p, k, 'manifest.json'), 'utf8'));
        if (m.outputs.values.digest === images.aarch64) return k;
      }
      throw new Error('input not found');
    }
  });

  it('mounts blobs from another repository of the registry instead of uploading them', async () => {
    const { key } = await ociInput('x86_64');
    await run(pushStep('x86_64', `${registry.host}/alt/source-repo:v1`, key), publishConfig(registry.host));
    const pushed = await run(pushStep('x86_64', `${registry.host}/partner/copy:v1`, key), publishConfig(registry.host, undefined, { mountFrom: ['alt/source-repo'] }));
    expect((pushed.outputs.values.blobs as Array<{ how: string }>).map((b) => b.how)).toEqual(['mounted', 'mounted']);
  });

  it('retries a registry that answers 500 twice, then succeeds', async () => {
    const proxy = await startFaultProxy(registry.port, [{ match: (r) => r.method === 'PUT' && /\/manifests\//.test(r.url ?? ''), fail: 2 }]);
    try {
      const { key, manifestDigest } = await ociInput('x86_64');
      const result = await run(pushStep('x86_64', `${proxy.host}/alt/flaky:v1`, key), publishConfig(proxy.host));
      expect(proxy.injected).toBe(2);
      expect(result.outputs.values).toMatchObject({ manifestDigest });
      const raw = skopeo('inspect', '--raw', ...creds(), `docker://${registry.host}/alt/flaky:v1-x86_64`);
      expect(`sha256:${sha256(raw)}`).toBe(manifestDigest);
    } finally {
      await proxy.stop();
    }
  });

  it('fails the step when the digest read back after the push differs', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const proxy = await startFaultProxy(registry.port, [{ match: (r) => r.method === 'GET' && /\/manifests\//.test(r.url ?? ''), rewriteDigest: wrong }]);
    try {
      const { key } = await ociInput('x86_64');
      await expect(run(pushStep('x86_64', `${proxy.host}/alt/corrupt:v1`, key), publishConfig(proxy.host))).rejects.toMatchObject({
        type: 'StepFailed', message: expect.stringContaining(`the registry states digest ${wrong}`),
      });
    } finally {
      await proxy.stop();
    }
  });

  it('preflight accepts good credentials and catches wrong ones before anything is built', async () => {
    const plan = (reference: string) => parsePlan({
      version: 1, product: 'debian-container', toolchain: { name: 'debian', version: '1' },
      variants: [{
        id: 'debian-container.x86_64', product: 'debian-container', arch: 'x86_64', taskQueue: 'build-x86_64',
        steps: [
          { id: 'build-oci', kind: 'noop', params: {} },
          { id: 'publish-registry', kind: 'publish', needs: ['build-oci'], params: { publish: { target: 'registry', repository: reference }, product: 'debian-container', arch: 'x86_64', artifacts: ['oci'] } },
        ],
      }],
    } satisfies PlanInput);
    const good = await preflightPublish(plan(`${registry.host}/alt/debian-container`), { publishConfig: publishConfig(registry.host), env });
    expect(good).toEqual([expect.objectContaining({ ok: true })]);

    const { preflightPublish: activity } = createPublishActivities({ config, logger: silentLogger, publishConfig: publishConfig(registry.host, 'SBORKA_TEST_WRONG_PASSWORD'), env });
    await expect(new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(activity, plan(`${registry.host}/alt/debian-container`))).rejects.toMatchObject({
      type: 'PublishPreflightFailed', nonRetryable: true,
      message: expect.stringMatching(/publish-registry → 127\.0\.0\.1:\d+\/alt\/debian-container: .*refused the credentials \(401\) for user pusher/),
    });
  });
});
