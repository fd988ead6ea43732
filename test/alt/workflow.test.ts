// The alt toolchain end to end, on fakes written from the upstream sources (test/alt/fakes):
// every alt product in products/ compiled and planned as `sborka build` does, run by
// BuildProduct → BuildVariant on a real Temporal dev server with one worker per queue: an
// x86_64 host (build-x86_64, and build-riscv64-emulated under qemu-user) and an aarch64
// host (build-aarch64). Each product is planned for the arches of x86_64, aarch64 and
// riscv64 it has; riscv64 variants go to the emulated queue.
//
// The plans are filtered to the steps the alt toolchain runs on these fakes: resolve,
// prepare-root, configure, build, and the `run` and `reproducible` tests. Left out, and said
// here: verify-licenses and publish (activities/licenses and activities/publish, tested on
// their own), and the `boot` test (it boots the image with real qemu, and the fake make's
// images are text; boot-contract.test.ts boots a real image made by the fake make).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { AltHost } from '../../activities/alt/host';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { parsePlan, type BuildPlan } from '../../plan/plan';
import { loadConfig } from '../../config/config';
import { BuildProduct } from '../../workflows';
import { BuildProductResult } from '../../workflows/contract';
import { startTemporal, startWorker, type RunningWorker } from '../helpers/temporal-env';
import { fakeHost, recipePlan, useFakes, type FakeHost } from './helpers';

const IMPLEMENTED = new Set(['resolve', 'prepare-root', 'configure', 'build', 'test']);
const ARCHES = ['x86_64', 'aarch64', 'riscv64'];

/** The recipe's plan for the arches above, without the steps left out (see the header). */
function altPlan(file: string): BuildPlan {
  const whole = recipePlan(file);
  const plan = recipePlan(file, whole.variants.map((v) => v.arch).filter((a) => ARCHES.includes(a)));
  const variants = plan.variants.map((v) => {
    const steps = v.steps.filter((s) => IMPLEMENTED.has(s.kind) && !(s.kind === 'test' && (s.params as { test: { type: string } }).test.type === 'boot'));
    const kept = new Set(steps.map((s) => s.id));
    const { emulation: _ignored, ...rest } = v;
    return {
      ...rest,
      ...(v.arch === 'riscv64' ? { taskQueue: 'build-riscv64-emulated' } : {}),
      steps: steps.map((s) => ({ ...s, needs: s.needs.filter((n) => kept.has(n)) })),
      artifacts: v.artifacts.filter((a) => kept.has(a.step)),
    };
  });
  return parsePlan({ ...plan, policy: { ...plan.policy, operatorWaitMs: 1000 }, variants });
}

/** Every alt product file under products/ (the debian ones are in products/debian). */
const PRODUCTS = fs.readdirSync(path.resolve(__dirname, '../../products')).filter((f) => f.endsWith('.sborka')).sort().map((f) => `products/${f}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-alt-wf-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
const logger = pino({ level: 'silent' });
let env: TestWorkflowEnvironment;
let fake: FakeHost;
let undo: () => void;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  fake = fakeHost({ arches: ['x86_64'], emulate: ['riscv64'] });
  undo = useFakes(fake);
  env = await startTemporal();
  const x86 = fake.host;
  // A second host: native aarch64, its own hasher workdirs and slot locks.
  const arm = AltHost.parse({ ...fake.host, arches: ['aarch64'], emulate: [], hasherDir: path.join(fake.host.home!, 'hasher-arm'), stateDir: path.join(fake.root, 'alt-state-arm') });
  const activitiesFor = (host: AltHost) => createActivities({ config, logger, registry: defaultRegistry({ alt: { host } }) });
  workers.push(
    await startWorker(env, { taskQueue: 'sborka', activities: { ...activitiesFor(x86), ...createQueueWatchActivities(env.client) } }),
    await startWorker(env, { taskQueue: 'build-x86_64', activities: activitiesFor(x86) }),
    await startWorker(env, { taskQueue: 'build-riscv64-emulated', activities: activitiesFor(x86) }),
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

async function build(plan: BuildPlan, id: string) {
  return BuildProductResult.parse(await env.client.workflow.execute(BuildProduct, { taskQueue: 'sborka', workflowId: id, args: [{ buildId: id, plan }] }));
}

describe('alt toolchain through the workflow, on fakes written from the upstream sources', () => {
  it('finds the alt products', () => {
    expect(PRODUCTS).toEqual(expect.arrayContaining(['products/regular-xfce.sborka', 'products/mobile-rk3399.sborka', 'products/cloud-vm.sborka', 'products/ve-docker.sborka', 'products/ve-systemd-base.sborka']));
  });

  for (const file of PRODUCTS) {
    it(`${file}: every variant builds, its images from the real mkimage-profiles targets`, async () => {
      const plan = altPlan(file);
      expect(plan.variants.length).toBeGreaterThan(0);
      fake.clearCalls();
      const result = await build(plan, `b-${path.basename(file, '.sborka')}`);
      for (const v of result.variants) expect([v.variantId, v.state, v.error ?? null]).toEqual([v.variantId, 'succeeded', null]);
      expect(result.state).toBe('succeeded');
      const goals = callsOf('make').map((c) => `${c.find((a) => a.startsWith('ARCH='))} ${c[c.length - 1]}`);
      for (const v of plan.variants) {
        for (const s of v.steps.filter((x) => x.kind === 'build')) {
          const p = s.params as { profile: string; output: { format: string; profile?: string } };
          // An output's own profile is its target as written; the product's maps by the format.
          const profile = (p.output.profile ?? p.profile).split('/');
          const cls = p.output.profile ? profile[0] : p.output.format === 'iso' ? 'distro' : ['img', 'qcow2'].includes(p.output.format) ? 'vm' : profile[0];
          expect([s.id, goals.some((g) => g.startsWith(`ARCH=${v.arch} ${cls}/${profile[1]}-sborka.`))]).toEqual([s.id, true]);
        }
        const r = result.variants.find((x) => x.variantId.split('.')[1] === v.arch)!;
        for (const a of r.result!.artifacts.filter((x) => x.name !== 'lock')) {
          expect(fs.readFileSync(a.file!, 'utf8').split('\n')[0]).toMatch(new RegExp(`^fake \\S+ image of \\S+-sborka\\.\\S+ for ${v.arch}$`));
        }
      }
      // riscv64 runs under qemu-user on the x86_64 host; the others natively.
      const hsh = callsOf('hsh');
      expect(hsh.filter((c) => c.includes('--with-qemu=riscv64')).length > 0).toBe(plan.variants.some((v) => v.arch === 'riscv64'));
      expect(hsh.some((c) => c.some((a) => a.startsWith('--with-qemu=') && a !== '--with-qemu=riscv64'))).toBe(false);
    }, 300_000);
  }

  it('a partner\'s product on its own profiles tree (a fork): built from the fork, with a target upstream lacks', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'acme-'));
    fs.cpSync(path.join(__dirname, 'fixtures', 'acme-fork'), dir, { recursive: true });
    const plan = altPlan(path.join(dir, 'acme-kiosk.sborka'));
    fake.clearCalls();
    const result = await build(plan, 'b-acme-fork');
    expect([result.state, result.variants.map((v) => v.error ?? null)]).toEqual(['succeeded', [null]]);
    expect(callsOf('make').map((c) => c[c.length - 1])).toEqual(['vm/acme-kiosk-sborka.qcow2']);
    const built = result.variants[0]!.result!.artifacts.find((a) => a.name === 'qcow2')!;
    expect(fs.readFileSync(built.file!, 'utf8').split('\n')[0]).toBe('fake qcow2 image of vm/acme-kiosk-sborka.qcow2 for x86_64');
  }, 300_000);

  it('a plan naming a target the worker\'s tree lacks (made before the check, or by hand) fails at the build with make\'s rule', async () => {
    const plan = altPlan('products/mobile-rk3399.sborka');
    const bad = parsePlan({ ...plan, variants: plan.variants.map((v) => ({ ...v, steps: v.steps.map((s) => (s.kind === 'build' ? { ...s, params: { ...(s.params as object), profile: 'vm/alt-mobile' } } : s)) })) });
    const result = await build(bad, 'b-no-target');
    expect(result.state).toBe('failed');
    expect(JSON.stringify(result)).toContain('defines no vm/alt-mobile for aarch64 (conf.d/*.mk), so `make vm/alt-mobile.img` would stop with \\"No rule to make target\\"');
    expect(callsOf('make').some((c) => c.includes('vm/alt-mobile-sborka.img'))).toBe(false);
  }, 120_000);

  it('a host whose hasher-priv prefix leaves out its hasher workdirs fails the build with hasher-priv\'s own rule and the fix', async () => {
    const system = path.join(fake.state, 'etc-hasher-priv', 'system');
    const saved = fs.readFileSync(system, 'utf8');
    fs.writeFileSync(system, saved.replace('prefix=~:/tmp/.private', 'prefix=/srv/hasher'));
    try {
      const plan = altPlan('products/ve-base.sborka');
      const one = parsePlan({ ...plan, variants: plan.variants.filter((v) => v.arch === 'x86_64') });
      const result = await build(one, 'b-prefix');
      expect(result.state).toBe('failed');
      expect(JSON.stringify(result)).toContain('hasher-priv works only under its prefix \\"/srv/hasher\\"');
    } finally {
      fs.writeFileSync(system, saved);
    }
  }, 120_000);
});
