// The alt toolchain end to end: partner-acme.sborka compiled and planned as `sborka build`
// does, run by BuildProduct → BuildVariant on a real Temporal dev server, with one worker
// per arch queue whose registry has the alt kinds: an x86_64 host on build-x86_64 and an
// aarch64 host on build-aarch64, both driving the fake ALT tools.
//
// The plan is filtered to the steps the alt toolchain implements: resolve, prepare-root,
// configure, build (iso, qcow2) and `run` tests. Left out, and said here: verify-licenses
// and publish (other engineers' activities/licenses and activities/publish), and the
// `boot` test (it boots the image itself with real qemu, and the fake make's images here
// are text; boot-contract.test.ts boots a real image made by the fake make).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { registerAltKinds } from '../../activities/alt';
import { AltHost } from '../../activities/alt/host';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { parsePlan, type BuildPlan } from '../../plan/plan';
import { loadConfig } from '../../config/config';
import { BuildProduct } from '../../workflows';
import { BuildProductResult } from '../../workflows/contract';
import { startTemporal, startWorker, type RunningWorker } from '../helpers/temporal-env';
import { fakeHost, recipePlan, useFakes, type FakeHost } from './helpers';

const IMPLEMENTED = new Set(['resolve', 'prepare-root', 'configure', 'build', 'test']);

/** The recipe's plan without the steps alt does not implement (see the header). */
function altPlan(): BuildPlan {
  const plan = recipePlan('products/partner-acme.sborka', ['x86_64', 'aarch64']);
  const variants = plan.variants.map((v) => {
    const steps = v.steps.filter((s) => IMPLEMENTED.has(s.kind) && !(s.kind === 'test' && (s.params as { test: { type: string } }).test.type !== 'run'));
    const kept = new Set(steps.map((s) => s.id));
    return {
      ...v,
      steps: steps.map((s) => ({ ...s, needs: s.needs.filter((n) => kept.has(n)) })),
      artifacts: v.artifacts.filter((a) => kept.has(a.step)),
    };
  });
  return parsePlan({ ...plan, policy: { ...plan.policy, operatorWaitMs: 1000 }, variants });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-alt-wf-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
const logger = pino({ level: 'silent' });
let env: TestWorkflowEnvironment;
let fake: FakeHost;
let undo: () => void;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  fake = fakeHost({ arches: ['x86_64'] });
  undo = useFakes(fake);
  env = await startTemporal();
  const x86 = fake.host;
  // A second host: native aarch64, its own hasher workdirs and slot locks.
  const arm = AltHost.parse({ ...fake.host, arches: ['aarch64'], emulate: [], hasherDir: path.join(fake.root, 'hasher-arm'), stateDir: path.join(fake.root, 'alt-state-arm') });
  const activitiesFor = (host: AltHost) => createActivities({ config, logger, registry: registerAltKinds(defaultRegistry(), { host }) });
  workers.push(
    await startWorker(env, { taskQueue: 'sborka', activities: { ...activitiesFor(x86), ...createQueueWatchActivities(env.client) } }),
    await startWorker(env, { taskQueue: 'build-x86_64', activities: activitiesFor(x86) }),
    await startWorker(env, { taskQueue: 'build-aarch64', activities: activitiesFor(arm) }),
  );
}, 120_000);

afterAll(async () => {
  for (const w of workers) await w.stop();
  await env?.teardown();
  undo?.();
  if (fake) fs.rmSync(fake.root, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
}, 60_000);

const callsOf = (name: string) => fake.calls().filter((c) => c[0] === name).map((c) => c.slice(1));

describe('alt toolchain through the workflow', () => {
  it('contract: a full product build of partner-acme on x86_64 and aarch64, one native worker per arch', async () => {
    const plan = altPlan();
    expect(plan.variants.map((v) => [v.arch, v.taskQueue, v.steps.map((s) => s.id)])).toEqual([
      ['x86_64', 'build-x86_64', ['resolve', 'prepare-root', 'configure', 'build-iso', 'build-qcow2', 'test-run-1']],
      ['aarch64', 'build-aarch64', ['resolve', 'prepare-root', 'configure', 'build-iso', 'build-qcow2', 'test-run-1']],
    ]);
    const result = BuildProductResult.parse(await env.client.workflow.execute(BuildProduct, {
      taskQueue: 'sborka', workflowId: 'b-alt', args: [{ buildId: 'b-alt', plan }],
    }));
    expect(result.state).toBe('succeeded');
    for (const v of result.variants) {
      const arch = v.variantId.split('.')[1]!;
      expect(v.state).toBe('succeeded');
      expect(v.result?.steps.every((s) => s.state === 'succeeded')).toBe(true);
      const files = new Map(v.result?.artifacts.map((a) => [a.name, a.file]));
      expect([...files.keys()].sort()).toEqual(['iso', 'lock', 'qcow2']);
      const iso = fs.readFileSync(files.get('iso')!, 'utf8');
      expect(iso.split('\n')[0]).toBe(`fake iso image of distro/regular-xfce-sborka.iso for ${arch}`);
      // The recipe's kernel, partner packages, settings and overlay are in the image.
      expect(iso).toContain('kernel-image-acme-rt\t1.0\talt1');
      expect(iso).toContain('acme-agent\t1.0\talt1');
      expect(iso).toContain('var TARGET_HOSTNAME alt-xfce');
      expect(iso).toContain('file /etc/motd');
      expect(iso).toContain('image-script 60-sborka-users');
      const lock = JSON.parse(fs.readFileSync(files.get('lock')!, 'utf8'));
      expect(lock).toMatchObject({ toolchain: 'alt', branch: 'p11', arch });
    }
    // Each arch on its own host: natively, so no qemu-user anywhere.
    const hsh = callsOf('hsh');
    expect(hsh.filter((c) => c.includes('--target=aarch64')).length).toBeGreaterThan(0);
    expect(hsh.some((c) => c.some((a) => a.startsWith('--with-qemu')))).toBe(false);
    expect(callsOf('make').map((c) => c.find((a) => a.startsWith('ARCH='))).sort()).toEqual(['ARCH=aarch64', 'ARCH=aarch64', 'ARCH=x86_64', 'ARCH=x86_64']);
    // The run test went through vm-run with KVM tried, never --kvm=cond, on both arches.
    const vm = callsOf('vm-run');
    expect(vm).toHaveLength(2);
    for (const c of vm) expect(c).toEqual(['--kvm=try', '--sbin', '--', 'rpm', '-q', 'firefox-esr']);
  }, 180_000);
});
