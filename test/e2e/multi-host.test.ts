// Build hosts that share nothing but Temporal and the store, for real: the embedded Temporal
// server, Debian's docker-registry on 127.0.0.1 as the remote store (and as the publishing
// target), one control worker and two host workers (`sborka worker` processes with their own
// state, store cache and log directories) serving build-x86_64 and build-aarch64. A two-arch
// Debian product (test/e2e/fixtures/multi-host.sborka: minbase, an OCI image per arch, one
// multi-arch index) is built while both hosts are killed with SIGKILL mid-step:
// - the x86_64 host in prepare-root (mmdebstrap), replaced by a new, empty host: its own state
//   directory and an empty cache, so everything it needs of the finished steps comes from the
//   registry, and the dead attempt is retried after its heartbeat timeout;
// - the aarch64 host in configure (bubblewrap and qemu-user), whose worker is restarted on the
//   same host (same state directory): the new worker ends the dead worker's processes and fails
//   its attempt at once (activities/takeover.ts).
// No finished step runs again. The hosts run in the test's network and pid namespaces: a
// network namespace with only loopback cannot reach the server and the registry of the
// test's loopback, nor the Debian mirror.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listRecords, recordsDir } from '../../activities/attempt-records';
import { readAttempts } from '../../activities/ledger';
import { OciClient } from '../../activities/publish/oci-client';
import { StepStore } from '../../activities/store';
import { ImageIndex, platformOf, sha256Digest } from '../../publish/oci';
import type { BuildProductResult, StepOutcome } from '../../workflows/contract';
import { DEB_CACHE, FOREIGN_ENABLED } from '../debian/foreign-fixture';
import { eventually, PROJECT_ROOT, SborkaEnv } from '../helpers/sborka-env';
import { startRegistry, type Registry } from '../publish/helpers';
import { alive, describeProcs, freezeTree, HostWorker, killAll, stagedUnder, thaw, treeOf, type Proc } from './multi-host-fixture';

jest.setTimeout(40 * 60_000);

const FIXTURE = path.join(PROJECT_ROOT, 'test', 'e2e', 'fixtures', 'multi-host.sborka');
const PRODUCT = 'debian-multi-host';
const REPOSITORY = 'multi-host/debian';
const STEPS = ['resolve', 'prepare-root', 'configure', 'build-oci', 'publish-registry'];
const PASSWORD = 'multi-host-pw';

let sborka: SborkaEnv;
let tmp: string;
let registry: Registry;
let recipe: string;
const hosts: HostWorker[] = [];
/** Step processes the test stopped: killed at the end whatever happened. */
const held: Proc[] = [];

beforeAll(async () => {
  if (!FOREIGN_ENABLED) return;
  sborka = await SborkaEnv.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-multi-host-'));
  for (const d of ['registry', 'logs']) fs.mkdirSync(path.join(tmp, d));
  registry = await startRegistry(path.join(tmp, 'registry'), { builder: PASSWORD });
  fs.writeFileSync(path.join(tmp, 'password'), `${PASSWORD}\n`);
  fs.writeFileSync(path.join(tmp, 'publish.json'), JSON.stringify({
    registries: [{ host: registry.host, plainHttp: true, username: 'builder', passwordFile: path.join(tmp, 'password') }],
  }));
  recipe = path.join(tmp, 'multi-host.sborka');
  fs.writeFileSync(recipe, fs.readFileSync(FIXTURE, 'utf8').replace('"127.0.0.1:5000/', `"${registry.host}/`));
});

afterAll(async () => {
  if (!FOREIGN_ENABLED) return;
  for (const h of hosts) h.child.kill('SIGKILL');
  killAll(held.filter(alive).map((p) => p.pid));
  if (tmp) killAll(stagedUnder(tmp));
  await sborka?.stop();
  await registry?.stop();
  if (tmp && process.env.SBORKA_TEST_KEEP_STATE !== '1') fs.rmSync(tmp, { recursive: true, force: true });
});

/** What a host's worker is given: the cluster's address, the shared store, its own directories. */
function hostEnv(stateDir: string): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: sborka.address,
    SBORKA_STATE_DIR: stateDir,
    SBORKA_STORE_URL: `oci+http://${registry.host}/sborka-store`,
    SBORKA_STORE_USER: 'builder',
    SBORKA_STORE_PASSWORD_FILE: path.join(tmp, 'password'),
    SBORKA_PUBLISH_CONFIG: path.join(tmp, 'publish.json'),
    // The .deb download cache the other debian tests fill: a mirror close by, not build state.
    SBORKA_DEBIAN_CACHE_DIR: DEB_CACHE,
  };
}

function startHost(name: string, stateDir: string, queue: string): HostWorker {
  fs.mkdirSync(stateDir, { recursive: true });
  const h = HostWorker.start(sborka, name, queue, hostEnv(stateDir), path.join(tmp, 'logs'));
  hosts.push(h);
  return h;
}

/**
 * Waits until `worker` runs `step` (its attempt record on the host) with a process `shows`;
 * returns the attempt's groups and processes. With `hold`, the processes are returned
 * stopped (see freezeTree), checked again once stopped.
 */
async function attemptRunning(worker: HostWorker, stateDir: string, step: string, shows: (p: Proc) => boolean, hold = false) {
  return eventually(`${step} on ${worker.name} to run a ${shows.toString()}`, async () => {
    if (worker.child.exitCode !== null) throw new Error(`${worker.name} exited\n${worker.tail()}`);
    const own = listRecords(recordsDir(stateDir)).find(({ record }) => record.worker.pid === worker.pid && record.activityId.startsWith(`${step}#`));
    if (!own) return undefined;
    const groups = own.record.groups.map((g) => g.pid);
    if (!treeOf(groups).some(shows)) return undefined;
    const tree = hold ? freezeTree(groups) : treeOf(groups);
    if (tree.some(shows)) return { groups, tree };
    thaw(tree); // it ended just now: wait for the next one
    return undefined;
  }, 20 * 60_000);
}

/** Each step's started event (the variant's cache probe left out): Temporal writes one per activity, for its last attempt, with the failure of the one before. */
async function startedActivities(workflowId: string) {
  const events = (await (await sborka.client()).workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const ids = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityId!]));
  return events.flatMap((e) => {
    const a = e.activityTaskStartedEventAttributes;
    return a && /#\d+$/.test(ids.get(String(a.scheduledEventId)) ?? '') ? [{ activityId: ids.get(String(a.scheduledEventId))!, attempt: a.attempt ?? 1, lastFailure: a.lastFailure ?? undefined }] : [];
  });
}

const ms = (t: number) => Date.now() - t;

(FOREIGN_ENABLED ? test : test.skip)('a two-arch build survives both hosts being killed mid-step; the new workers build only what is missing', async () => {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const killedAt = { x86: 0, arm: 0 };
  const dirs = { x86: path.join(tmp, 'host-x86-1'), x86New: path.join(tmp, 'host-x86-2'), arm: path.join(tmp, 'host-arm') };
  startHost('control', sborka.stateDir, 'sborka');
  const x86 = startHost('x86_64 host', dirs.x86, 'build-x86_64');
  const arm = startHost('aarch64 host', dirs.arm, 'build-aarch64');
  const buildId = `multi-host-${process.pid}`;
  const started = await sborka.run(['build', recipe, '--product', PRODUCT, '--id', buildId, '--no-worker'], { TEMPORAL_ADDRESS: sborka.address });
  expect(started).toMatchObject({ code: 0, stderr: '' });
  let x86New: HostWorker | undefined;
  let armNew: HostWorker | undefined;

  const killX86 = async () => {
    const { tree } = await attemptRunning(x86, dirs.x86, 'prepare-root', (p) => p.comm === 'mmdebstrap');
    timings.x86KilledAtMs = ms(t0);
    killedAt.x86 = Date.now();
    // This host is gone for good, as in a power cut: the worker and everything it started end
    // at once. The new host shares nothing with it but Temporal and the registry.
    killAll(tree.map((p) => p.pid));
    await x86.kill9();
    await eventually('the dead x86_64 host\'s processes to end', async () => (tree.some(alive) ? undefined : true));
    x86New = startHost('new x86_64 host', dirs.x86New, 'build-x86_64');
  };

  const killArm = async () => {
    // Held where they are (see freezeTree), so that what ends them can only be the next worker.
    const { groups, tree: left } = await attemptRunning(arm, dirs.arm, 'configure', (p) => /qemu-aarch64/.test(p.exe), true);
    held.push(...left);
    timings.armKilledAtMs = ms(t0);
    killedAt.arm = Date.now();
    await arm.kill9();
    // SIGKILL of the worker leaves the step's processes: their own process group.
    expect(left.filter(alive).map((p) => p.comm)).toEqual(expect.arrayContaining(['bwrap']));
    expect(left.filter((p) => /qemu-aarch64/.test(p.exe) && alive(p))).not.toEqual([]);
    const restartedAt = Date.now();
    armNew = startHost('restarted aarch64 worker', dirs.arm, 'build-aarch64');
    await eventually(`the restarted worker to end the dead worker's processes:\n${describeProcs(left)}`, async () => (left.some(alive) ? undefined : true), 120_000);
    timings.armLeftoversEndedMs = ms(restartedAt);
    // The takeover ended them and failed the dead attempt.
    const taken = await eventually('the takeover to be logged', async () => armNew!.records().find((r) => r.msg === 'took over the attempt of a dead worker'));
    expect(taken).toMatchObject({ deadWorkerPid: arm.pid, outcome: 'failed' });
    expect((taken.killedGroups as number[]).filter((g) => groups.includes(g))).not.toEqual([]);
    expect(listRecords(recordsDir(dirs.arm)).filter(({ record }) => record.worker.pid === arm.pid)).toEqual([]);
  };

  try {
    await Promise.all([killX86(), killArm()]);
    const result = (await (await sborka.client()).workflow.getHandle(buildId).result()) as BuildProductResult;
    timings.buildMs = ms(t0);
    expect(result.variants.map((v) => [v.variantId, v.state])).toEqual([[`${PRODUCT}.x86_64`, 'succeeded'], [`${PRODUCT}.aarch64`, 'succeeded']]);
    expect(result.state).toBe('succeeded');
    const retried = await checkBuild(result, dirs, { x86, x86New: x86New!, arm, armNew: armNew! });
    // From kill -9 to the retried attempt's start: the heartbeat timeout, or the takeover.
    timings.x86RetryAfterKillMs = retried.x86 - killedAt.x86;
    timings.armRetryAfterKillMs = retried.arm - killedAt.arm;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${hosts.map((h) => h.tail()).join('\n')}`);
  } finally {
    console.log(`multi-host: ${JSON.stringify({ ...timings, wallMs: ms(t0) })}`);
  }
});

type Hosts = Record<'x86' | 'x86New' | 'arm' | 'armNew', HostWorker>;

/** Checks the finished build; returns when each killed step's retry started (epoch ms). */
async function checkBuild(result: BuildProductResult, dirs: Record<'x86' | 'x86New' | 'arm', string>, h: Hosts): Promise<{ x86: number; arm: number }> {
  const variant = (arch: string) => result.variants.find((v) => v.variantId === `${PRODUCT}.${arch}`)!;
  const steps = (arch: string) => new Map(variant(arch).result!.steps.map((s) => [s.id, s] as [string, StepOutcome]));
  for (const arch of ['x86_64', 'aarch64']) {
    expect([...steps(arch).values()].map((s) => [s.id, s.state])).toEqual(STEPS.map((id) => [id, 'succeeded']));
  }

  // Temporal's view: every step of each variant ran as one activity, started once, except the
  // two cut by the kills, whose second attempt is the last: the x86_64 one after its heartbeat
  // timeout (nobody on its host was left to take over), the aarch64 one failed by the takeover.
  const x86Acts = await startedActivities(variant('x86_64').workflowId);
  const armActs = await startedActivities(variant('aarch64').workflowId);
  const killedAt = { x86_64: 'prepare-root#1', aarch64: 'configure#1' };
  for (const [arch, acts] of [['x86_64', x86Acts], ['aarch64', armActs]] as const) {
    expect(acts.map((a) => [a.activityId, a.attempt])).toEqual(STEPS.map((s) => [`${s}#1`, `${s}#1` === killedAt[arch] ? 2 : 1]));
  }
  expect(x86Acts.find((a) => a.activityId === 'prepare-root#1')!.lastFailure?.timeoutFailureInfo).toBeTruthy();
  const takenOver = armActs.find((a) => a.activityId === 'configure#1')!.lastFailure;
  expect(takenOver?.message).toContain('took over');
  expect(takenOver?.applicationFailureInfo?.type).toBe('StepFailed');

  // The hosts' own ledgers: who ran what. Each step finished exactly once, on the host the
  // plan says, and the replacements ran only what was left; the killed attempts show as
  // started and never finished.
  const store = (dir: string) => path.join(dir, 'store');
  const attempts = await Promise.all([dirs.x86, dirs.x86New, dirs.arm].map(async (d) => (await readAttempts(store(d))).filter((a) => a.start.buildId === result.buildId)));
  const ran = (i: number, pid: number) => attempts[i]!.filter((a) => a.start.workerPid === pid).map((a) => [a.start.variantId.split('.').pop(), a.start.stepId, a.start.attempt, a.end?.outcome ?? 'never finished']);
  expect(ran(0, h.x86.pid)).toEqual([['x86_64', 'resolve', 1, 'succeeded'], ['x86_64', 'prepare-root', 1, 'never finished']]);
  expect(ran(1, h.x86New.pid)).toEqual([['x86_64', 'prepare-root', 2, 'succeeded'], ...['configure', 'build-oci', 'publish-registry'].map((s) => ['x86_64', s, 1, 'succeeded'])]);
  expect(ran(2, h.arm.pid)).toEqual([['aarch64', 'resolve', 1, 'succeeded'], ['aarch64', 'prepare-root', 1, 'succeeded'], ['aarch64', 'configure', 1, 'never finished']]);
  expect(ran(2, h.armNew.pid)).toEqual([['aarch64', 'configure', 2, 'succeeded'], ...['build-oci', 'publish-registry'].map((s) => ['aarch64', s, 1, 'succeeded'])]);
  expect(attempts.flat().length).toBe(12);

  // The new x86_64 host never ran resolve: its lock came from the registry into its empty cache.
  const lock = steps('x86_64').get('resolve')!;
  expect(lock.outputDir!.startsWith(`${store(dirs.x86)}/`)).toBe(true);
  const pulled = await new StepStore(store(dirs.x86New)).lookup(lock.key!);
  expect(pulled?.manifest.outputs.files.map((f) => f.sha256)).toEqual((await new StepStore(store(dirs.x86)).lookup(lock.key!))!.manifest.outputs.files.map((f) => f.sha256));
  for (const id of ['prepare-root', 'configure', 'build-oci', 'publish-registry']) expect(steps('x86_64').get(id)!.outputDir!.startsWith(`${store(dirs.x86New)}/`)).toBe(true);

  // One multi-arch index over both hosts' images, each the image its host pushed.
  const client = new OciClient({ registry: registry.host, plainHttp: true, credentials: { username: 'builder', password: PASSWORD } });
  try {
    const index = ImageIndex.parse(JSON.parse((await client.getManifest(REPOSITORY, 'bookworm'))!.body.toString('utf8')));
    const byArch = new Map(index.manifests.map((m) => [m.platform?.architecture, m.digest]));
    for (const arch of ['x86_64', 'aarch64']) {
      const receipt = JSON.parse(fs.readFileSync(path.join(steps(arch).get('publish-registry')!.outputDir!, 'publish.json'), 'utf8')) as { manifestDigest: string };
      const own = await client.getManifest(REPOSITORY, `bookworm-${arch}`);
      expect(sha256Digest(own!.body)).toBe(receipt.manifestDigest);
      expect(byArch.get(platformOf(arch).architecture)).toBe(receipt.manifestDigest);
    }
    expect(index.manifests).toHaveLength(2);
  } finally {
    await client.close();
  }
  // Nothing any host started for this build still runs.
  expect(stagedUnder(tmp)).toEqual([]);
  const retryStart = (i: number, pid: number, step: string) => Date.parse(attempts[i]!.find((a) => a.start.workerPid === pid && a.start.stepId === step && a.start.attempt === 2)!.start.startedAt);
  return { x86: retryStart(1, h.x86New.pid, 'prepare-root'), arm: retryStart(2, h.armNew.pid, 'configure') };
}
