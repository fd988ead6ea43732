// Nightlies that wait for a person do not hold back the next night: the schedule allows
// overlaps and each run checks itself (activities/nightly.ts). Night 1 waits for a license
// review while night 2 is fired: night 2 builds and finishes, night 1 still waits and is
// approved afterwards. A trigger after tonight's build finished starts nothing; a catch-up
// of a night that was built builds nothing. Real dev server, real activities, a tiny root.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { ScheduleHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { createNightlyActivities } from '../../activities/nightly';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { loadConfig } from '../../config/config';
import { parsePlan, type PlanInput } from '../../plan/plan';
import { buildView, operatorAction } from '../../service/builds';
import { recentNights } from '../../service/schedule-nights';
import { syncSchedules, triggerNightly } from '../../service/schedules';
import { CONTROL_QUEUE } from '../../service/worker';
import { BuildProductResult } from '../../workflows/contract';
import { eventually, startTemporal, startWorker, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';

const QUEUE = 'build-x86_64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-nightly-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
let env: TestWorkflowEnvironment;
const workers: RunningWorker[] = [];
const schedules: ScheduleHandle[] = [];

beforeAll(async () => {
  env = await startTemporal();
  const activities = {
    ...createActivities({ config, logger: pino({ level: 'silent' }) }),
    ...createQueueWatchActivities(env.client),
    ...createNightlyActivities(env.client),
  };
  for (const taskQueue of [CONTROL_QUEUE, QUEUE]) workers.push(await startWorker(env, { taskQueue, activities }));
}, 120_000);

afterAll(async () => {
  for (const s of schedules) await s.delete().catch(() => undefined);
  await stopTestEnv(env, workers, [tmp]);
}, 60_000);

/** A dpkg status database and a DEP-5 copyright file of one package under `license`. */
function writeRoot(dir: string, license: string): void {
  fs.mkdirSync(path.join(dir, 'var/lib/dpkg'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'var/lib/dpkg/status'), [
    'Package: libdemo', 'Status: install ok installed', 'Priority: optional', 'Section: libs', 'Installed-Size: 12',
    'Maintainer: Sborka Tests <tests@sborka.invalid>', 'Architecture: amd64', 'Version: 1.0-1', 'Description: demo', ' Only in this test.', '',
  ].join('\n'));
  const doc = path.join(dir, 'usr/share/doc/libdemo');
  fs.mkdirSync(doc, { recursive: true });
  fs.writeFileSync(path.join(doc, 'copyright'), [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/', 'Upstream-Name: libdemo', '',
    'Files: *', 'Copyright: 2024 Sborka Tests', `License: ${license}`, '', `License: ${license}`, ` The full text of ${license} would be here.`, '',
  ].join('\n'));
}

type StepInput = PlanInput['variants'][number]['steps'][number];
const POLICY = { name: 'nightly-test', allow: ['MIT'], review: ['MPL-2.0'], deny: [], unknown: 'deny' as const };

/** The root is taken from `current` (a symlink the test points at the MPL or the MIT root) and never cached. */
function nightlyPlan(product: string, current: string) {
  const steps = [
    {
      id: 'rootfs', kind: 'exec', cacheable: false,
      params: { argv: ['sh', '-c', 'exec tar --create --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --file "$SBORKA_OUTPUT_DIR/rootfs.tar" -C "$1/" var usr', 'sh', current] },
    },
    { id: 'licenses', kind: 'verify-licenses', needs: ['rootfs'], params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', policy: POLICY } },
  ] as StepInput[];
  return parsePlan({
    version: 1,
    product,
    owner: { kind: 'maintainer', team: 'core' },
    toolchain: { name: 'debian', version: 'nightly-1' },
    schedule: { cron: '0 2 * * *', timezone: 'UTC' },
    policy: { maxParallelSteps: 2, operatorWaitMs: 600_000, noWorkerWarningMs: 120_000 },
    variants: [{ id: 'v', product, arch: 'x86_64', taskQueue: QUEUE, steps }],
  });
}

const night = (day: number) => new Date(Date.UTC(2024, 0, day, 2, 0, 0));
const around = (at: Date) => ({ start: new Date(at.getTime() - 60_000), end: new Date(at.getTime() + 60_000) });

async function runsOf(product: string): Promise<{ id: string; runId: string; status: string }[]> {
  const out: { id: string; runId: string; status: string }[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'BuildProduct' AND SborkaProduct = '${product}'` })) out.push({ id: wf.workflowId, runId: wf.runId, status: wf.status.name });
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

it('a nightly waiting for a review does not skip the next night; it stays open and is approved later', async () => {
  const mpl = path.join(tmp, 'root-mpl');
  const mit = path.join(tmp, 'root-mit');
  writeRoot(mpl, 'MPL-2.0');
  writeRoot(mit, 'MIT');
  const current = path.join(tmp, 'current');
  fs.symlinkSync(mpl, current);
  const plan = nightlyPlan('nightly-review', current);
  await syncSchedules(env.client, [plan], false);
  const schedule = env.client.schedule.getHandle('sborka-nightly-nightly-review');
  schedules.push(schedule);

  // Night 1 (a missed night caught up, under the schedule's own overlap policy) waits for the review.
  await schedule.backfill(around(night(1)));
  const first = 'nightly-review-nightly-2024-01-01T02:00:00Z';
  await eventually(async () => ((await buildView(env.client, first).catch(() => undefined))?.variants[0]?.waiting[0] ? true : undefined), 'night 1 to wait for its review');

  // Night 2 comes while night 1 waits: it builds (the root is clean now) and finishes.
  fs.unlinkSync(current);
  fs.symlinkSync(mit, current);
  await schedule.backfill(around(night(2)));
  const second = 'nightly-review-nightly-2024-01-02T02:00:00Z';
  const done = BuildProductResult.parse(await eventually(async () => (await runsOf('nightly-review')).some((r) => r.id === second) ? true : undefined, 'night 2 to start')
    .then(() => env.client.workflow.getHandle(second).result()));
  expect(done).toMatchObject({ buildId: second, state: 'succeeded' });

  // Night 1 still waits, says what for, and is listed as such.
  const waiting = await buildView(env.client, first);
  expect(waiting.product.state).toBe('running');
  expect(waiting.variants[0]?.waiting[0]?.reason).toMatch(/^license review under policy nightly-test: 1 package\(s\) need review \(libdemo\)$/);
  const nights = await recentNights(env.client, 'nightly-review', 'UTC', undefined, 365 * 10);
  expect(nights.map((n) => [n.night, n.buildId, n.state])).toEqual([
    ['2024-01-02', second, 'succeeded'],
    ['2024-01-01', first, 'waiting'],
  ]);
  expect(nights[1]?.waits).toEqual([expect.objectContaining({ variantId: 'v', step: 'licenses', open: true, reason: expect.stringMatching(/^license review/) })]);

  // The operator answers later: night 1 goes on in place and finishes.
  await operatorAction(env.client, first, 'approve', { by: 'alice', reason: 'MPL-2.0 is fine here' });
  expect(BuildProductResult.parse(await env.client.workflow.getHandle(first).result())).toMatchObject({ state: 'succeeded' });
  // The list reads the server's visibility store, which catches up with the finished run a moment later.
  const after = await eventually(async () => {
    const nights = await recentNights(env.client, 'nightly-review', 'UTC', undefined, 365 * 10);
    return nights[1]?.state === 'running' ? undefined : nights;
  }, 'the visibility store to show night 1 finished');
  expect(after[1]).toMatchObject({ buildId: first, state: 'succeeded', waits: [expect.objectContaining({ step: 'licenses', open: false, approvedBy: 'alice' })] });
}, 180_000);

it('after tonight\'s build finished, a trigger starts nothing, a run the server starts anyway builds nothing, and a catch-up of a built night builds nothing', async () => {
  const root = path.join(tmp, 'root-clean');
  writeRoot(root, 'MIT');
  const plan = nightlyPlan('nightly-once', root);
  await syncSchedules(env.client, [plan], false);
  const schedule = env.client.schedule.getHandle('sborka-nightly-nightly-once');
  schedules.push(schedule);

  expect(await triggerNightly(env.client, 'nightly-once')).toEqual({ triggered: true });
  const [tonight] = await eventually(async () => { const r = await runsOf('nightly-once'); return r.length === 1 ? r : undefined; }, 'tonight\'s build');
  expect(BuildProductResult.parse(await env.client.workflow.getHandle(tonight!.id).result())).toMatchObject({ state: 'succeeded' });

  // The CLI's and the API's trigger: nothing starts.
  const again = await triggerNightly(env.client, 'nightly-once');
  expect(again).toMatchObject({ triggered: false, other: tonight!.id });
  expect(again.reason).toMatch(/^the night of \d{4}-\d\d-\d\d already has build nightly-once-nightly-.* \(succeeded\)$/);
  expect(await runsOf('nightly-once')).toHaveLength(1);

  // The server's own trigger (no check before it): the run skips itself and no variant starts.
  // Run ids carry the nominal second: trigger in a later second than tonight's, so the ids differ.
  const tonightSecond = tonight!.id.slice('nightly-once-nightly-'.length, -1);
  await eventually(async () => (new Date().toISOString().slice(0, 19) > tonightSecond ? true : undefined), 'the next second');
  await schedule.trigger();
  const extra = await eventually(async () => (await runsOf('nightly-once')).find((r) => r.id !== tonight!.id && r.status === 'COMPLETED'), 'the second run to end');
  const skipped = BuildProductResult.parse(await env.client.workflow.getHandle(extra.id).result());
  expect(skipped.state).toBe('skipped');
  expect(skipped.status?.error).toBe(`skipped: the night of ${skipped.status?.startedAt.slice(0, 10)} already has build ${tonight!.id} (succeeded)`);
  let variants = 0;
  for await (const _ of env.client.workflow.list({ query: `WorkflowType = 'BuildVariant' AND SborkaProduct = 'nightly-once'` })) variants += 1;
  expect(variants).toBe(1);

  // A catch-up of a night that was built (same nominal time, so the same run id) builds nothing either.
  await schedule.backfill(around(night(5)));
  const fifth = 'nightly-once-nightly-2024-01-05T02:00:00Z';
  await eventually(async () => ((await runsOf('nightly-once')).some((r) => r.id === fifth && r.status === 'COMPLETED') ? true : undefined), 'the night of 2024-01-05');
  const builtRun = (await runsOf('nightly-once')).find((r) => r.id === fifth)!.runId;
  await schedule.backfill(around(night(5)));
  // The server starts a second run under the same id; it builds nothing and shows the night's build.
  const again5 = await eventually(async () => (await runsOf('nightly-once')).find((r) => r.id === fifth && r.runId !== builtRun && r.status === 'COMPLETED'), 'the catch-up run to end');
  const mirrored = BuildProductResult.parse(await env.client.workflow.getHandle(fifth, again5.runId).result());
  const original = BuildProductResult.parse(await env.client.workflow.getHandle(fifth, builtRun).result());
  expect(mirrored.state).toBe('succeeded');
  expect(mirrored.variants).toEqual(original.variants);
  expect(mirrored.status?.warnings).toEqual([`a catch-up of this night built nothing: the night of 2024-01-05 already has build ${fifth} (succeeded)`]);
  expect((await buildView(env.client, fifth)).product.state).toBe('succeeded');
  const built: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowType = 'BuildVariant' AND SborkaProduct = 'nightly-once'` })) built.push(wf.workflowId);
  expect(built.sort()).toEqual([`${fifth}.v`, `${tonight!.id}.v`]);
}, 180_000);
