// The engine's gates on a real dev server with the real activities: a license review that
// waits for an operator (approve / abort / deny), the publishing preflight before any
// variant starts, the build's 'waiting' state, and cancelling a build whose variant has
// not started yet or waits for an operator.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities, readLedger } from '../../activities';
import { createPublishActivities } from '../../activities/publish';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { parsePlan, type BuildPlan, type PlanInput } from '../../plan/plan';
import { PublishConfig } from '../../publish/config-schema';
import { operatorAction } from '../../service/builds';
import { loadConfig } from '../../config/config';
import { productStatusQuery, retryUpdate, variantStatusQuery } from '../../workflows/api';
import { BuildProductResult } from '../../workflows/contract';
import { BuildProduct } from '../../workflows';
import { SA_STATE } from '../../workflows/search-attributes';
import { ProductStatus, VariantStatus } from '../../workflows/status';
import { eventually, startTemporal, startWorker, workflowBundle, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';
import { fetchHistories, saveHistories, WRITE_HISTORIES } from './histories';

const { EventType } = temporal.api.enums.v1;
const QUEUE = 'build-x86_64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-gates-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
const missingRoot = path.join(tmp, 'publish', 'not-there');
const fileRoot = path.join(tmp, 'publish', 'a-file');
let env: TestWorkflowEnvironment;
let worker: RunningWorker;
/** Every workflow the tests ran to its end, for the replay check at the end. */
const ran: string[] = [];

beforeAll(async () => {
  fs.mkdirSync(path.dirname(fileRoot), { recursive: true });
  fs.writeFileSync(fileRoot, 'not a directory\n');
  const logger = pino({ level: 'silent' });
  const publishConfig = PublishConfig.parse({ files: [{ root: missingRoot, owners: ['*'] }, { root: fileRoot, owners: ['*'] }] });
  env = await startTemporal();
  worker = await startWorker(env, {
    taskQueue: QUEUE,
    activities: {
      ...createActivities({ config, logger }),
      ...createQueueWatchActivities(env.client),
      ...createPublishActivities({ config, logger, publishConfig }),
    },
  });
}, 120_000);

afterAll(async () => {
  await stopTestEnv(env, [worker], [tmp]);
}, 60_000);

// ---- a tiny Debian root: dpkg's status database and DEP-5 copyright files --------------

const PACKAGES = [
  { name: 'base-demo', version: '1.2-1', license: 'GPL-2+' },
  { name: 'libexpat-demo', version: '2.5.0-1', license: 'Expat' },
  { name: 'libmpl-demo', version: '3.0-2', license: 'MPL-2.0' },
];

/** var/lib/dpkg/status and usr/share/doc/<pkg>/copyright, in the formats dpkg and DEP-5 define. */
function writeRoot(dir: string): void {
  const status = PACKAGES.map((p) =>
    [
      `Package: ${p.name}`,
      'Status: install ok installed',
      'Priority: optional',
      'Section: libs',
      'Installed-Size: 12',
      'Maintainer: Sborka Tests <tests@sborka.invalid>',
      'Architecture: amd64',
      `Version: ${p.version}`,
      `Description: ${p.name} for the license gate test`,
      ' A package that exists only in this test root.',
    ].join('\n'),
  );
  fs.mkdirSync(path.join(dir, 'var/lib/dpkg'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'var/lib/dpkg/status'), `${status.join('\n\n')}\n`);
  for (const p of PACKAGES) {
    const doc = path.join(dir, 'usr/share/doc', p.name);
    fs.mkdirSync(doc, { recursive: true });
    fs.writeFileSync(
      path.join(doc, 'copyright'),
      [
        'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
        `Upstream-Name: ${p.name}`,
        '',
        'Files: *',
        'Copyright: 2024 Sborka Tests',
        `License: ${p.license}`,
        '',
        `License: ${p.license}`,
        ` The full text of ${p.license} would be here.`,
        '',
      ].join('\n'),
    );
  }
}

const rootDir = path.join(tmp, 'root');
writeRoot(rootDir);

type StepInput = PlanInput['variants'][number]['steps'][number];

const POLICY = { name: 'gate-test', allow: ['GPL-2.0-or-later', 'MIT'], review: ['MPL-2.0'], deny: [], unknown: 'deny' as const };

/** rootfs.tar made by tar in an exec step → verify-licenses → a step that reads the report. */
function licenseSteps(policy: object): StepInput[] {
  return [
    {
      id: 'rootfs',
      kind: 'exec',
      params: { argv: ['sh', '-c', 'exec tar --create --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --file "$SBORKA_OUTPUT_DIR/rootfs.tar" -C "$1" var usr', 'sh', rootDir] },
    },
    { id: 'licenses', kind: 'verify-licenses', needs: ['rootfs'], params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', policy } },
    {
      id: 'after',
      kind: 'exec',
      needs: ['licenses'],
      params: { argv: ['sh', '-c', 'cp "$SBORKA_INPUT_LICENSES/license-report.json" "$SBORKA_OUTPUT_DIR/"'] },
    },
  ] as StepInput[];
}

function makePlan(product: string, variants: PlanInput['variants'], toolchain = 'debian'): BuildPlan {
  return parsePlan({
    version: 1,
    product,
    owner: { kind: 'maintainer', team: 'core' },
    toolchain: { name: toolchain, version: 'test-1' },
    policy: { maxParallelSteps: 2, operatorWaitMs: 600_000, noWorkerWarningMs: 120_000 },
    variants,
  });
}

function licensePlan(policy: object = POLICY): BuildPlan {
  return makePlan('lic', [{ id: 'lic-x86_64', product: 'lic', arch: 'x86_64', taskQueue: QUEUE, steps: licenseSteps(policy) }]);
}

// ---- helpers -------------------------------------------------------------------------

async function startBuild(buildId: string, plan: BuildPlan): Promise<WorkflowHandle<typeof BuildProduct>> {
  ran.push(buildId, ...plan.variants.map((v) => `${buildId}.${v.id}`));
  return env.client.workflow.start(BuildProduct, { taskQueue: QUEUE, workflowId: buildId, args: [{ buildId, plan }] });
}

async function variantStatus(workflowId: string): Promise<VariantStatus> {
  return VariantStatus.parse(await env.client.workflow.getHandle(workflowId).query(variantStatusQuery));
}

function stepWaits(workflowId: string, stepId: string): Promise<VariantStatus> {
  return eventually(async () => {
    const s = await variantStatus(workflowId);
    return s.steps.find((st) => st.id === stepId)?.state === 'waiting' ? s : undefined;
  }, `step ${stepId} of ${workflowId} to wait`);
}

async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

async function searchState(workflowId: string): Promise<unknown> {
  return (await env.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.get(SA_STATE);
}

/** Every SborkaState the run upserted, in order, read from its history. */
async function stateHistory(workflowId: string): Promise<string[]> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return events.flatMap((e) => {
    const payload = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[SA_STATE.name];
    return payload ? [String(defaultPayloadConverter.fromPayload(payload))] : [];
  });
}

// ---- tests ---------------------------------------------------------------------------

describe('license review', () => {
  it('a review verdict waits for the operator; approve goes on, the build succeeds and records who and why', async () => {
    const handle = await startBuild('g-review', licensePlan());
    const waiting = await stepWaits('g-review.lic-x86_64', 'licenses');

    expect(waiting.state).toBe('waiting');
    const wait = waiting.waiting[0]!;
    expect(wait).toMatchObject({ step: 'licenses', actions: ['approve', 'abort'] });
    expect(wait.reason).toMatch(/^license review under policy gate-test: 1 package\(s\) need review \(libmpl-demo\)$/);
    const report = JSON.parse(fs.readFileSync(wait.report!, 'utf8')) as { verdict: string };
    expect(path.basename(wait.report!)).toBe('license-report.json');
    expect(report.verdict).toBe('review');
    expect(waiting.steps.find((s) => s.id === 'after')?.state).toBe('pending');
    expect(waiting.warnings).toEqual([expect.stringContaining(`step licenses waits for an operator's license review (approve/abort)`)]);

    // The build as a whole says it waits, so listings by state find it.
    await eventually(async () => ((await searchState('g-review')) === 'waiting' ? true : undefined), 'the build to show waiting');
    const product = ProductStatus.parse(await handle.query(productStatusQuery));
    expect(product.variants[0]?.state).toBe('waiting');

    // A review is not a failure: retry does not apply.
    const refused = await env.client.workflow.getHandle('g-review.lic-x86_64').executeUpdate(retryUpdate, { args: [{}] }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause?.message).toMatch(/step licenses waits for a license review .*: approve or abort it/);

    const reply = await operatorAction(env.client, 'g-review', 'approve', { reason: 'MPL-2.0 accepted by legal (ticket 42)', by: 'alice' });
    expect(reply).toEqual({ variantId: 'lic-x86_64', step: 'licenses', action: 'approve' });

    const result = BuildProductResult.parse(await handle.result());
    expect(result.state).toBe('succeeded');
    const steps = result.variants[0]?.result?.steps.map((s) => [s.id, s.state]);
    // The approved step ran once more (with the decisions the approval recorded); no decision
    // file changed its key here, so that rerun came from the store and stayed approved.
    expect(steps).toEqual([['rootfs', 'succeeded'], ['licenses', 'cached'], ['after', 'succeeded']]);
    const licenses = result.variants[0]?.result?.status?.steps.find((s) => s.id === 'licenses');
    expect(licenses?.attempt).toBe(2);
    expect(licenses?.approval).toEqual({ by: 'alice', reason: 'MPL-2.0 accepted by legal (ticket 42)', at: expect.any(String) });
    expect(Date.parse(licenses!.approval!.at)).toBeGreaterThanOrEqual(Date.parse(wait.since));
    expect(result.variants[0]?.result?.status?.waiting).toEqual([]);
    // running → waiting while the review was open → running after the approval → the end.
    expect(await stateHistory('g-review')).toEqual(['running', 'waiting', 'running', 'succeeded']);
  });

  it('a rerun takes the verdict from the store and asks again; abort fails the build naming the review', async () => {
    const handle = await startBuild('g-review-abort', licensePlan());
    const waiting = await stepWaits('g-review-abort.lic-x86_64', 'licenses');
    expect(waiting.steps.find((s) => s.id === 'licenses')?.key).toHaveLength(64);
    const ledger = (await readLedger(config.storeDir)).filter((e) => e.buildId === 'g-review-abort');
    // Nothing ran again: both steps came from the store, yet the approval of g-review does not carry over.
    expect(ledger.map((e) => [e.stepId, e.outcome])).toEqual([['rootfs', 'cached'], ['licenses', 'cached']]);
    expect(ledger.every((e) => e.pids.length === 0)).toBe(true);

    await operatorAction(env.client, 'g-review-abort', 'abort', { reason: 'legal said no', by: 'bob' });
    const result = BuildProductResult.parse(await handle.result());
    expect(result.state).toBe('failed');
    expect(result.variants[0]?.error).toMatch(/step licenses: license review under policy gate-test: 1 package\(s\) need review \(libmpl-demo\); aborted by the operator/);
    const status = result.variants[0]?.result?.status;
    expect(status?.steps.map((s) => [s.id, s.state])).toEqual([['rootfs', 'cached'], ['licenses', 'failed'], ['after', 'pending']]);
    expect(await searchState('g-review-abort')).toBe('failed');
  });

  it('a policy that denies a license fails the variant at once, without retries or a wait', async () => {
    const handle = await startBuild('g-deny', licensePlan({ ...POLICY, review: [], deny: ['MPL-2.0'] }));
    const result = BuildProductResult.parse(await handle.result());
    expect(result.state).toBe('failed');
    expect(result.variants[0]?.error).toMatch(/step licenses failed: license policy gate-test: 1 package\(s\) denied: libmpl-demo/);
    const licenses = result.variants[0]?.result?.status?.steps.find((s) => s.id === 'licenses');
    expect(licenses).toMatchObject({ state: 'failed', attempt: 1, error: { type: 'PolicyViolation', nonRetryable: true } });
    const attempts = (await readLedger(config.storeDir)).filter((e) => e.buildId === 'g-deny' && e.stepId === 'licenses');
    expect(attempts.map((e) => e.outcome)).toEqual(['failed']);
    expect(await stateHistory('g-deny')).not.toContain('waiting');
  });

  it('cancelling a build while its variant waits on a review ends it as cancelled', async () => {
    const handle = await startBuild('g-review-cancel', licensePlan());
    await stepWaits('g-review-cancel.lic-x86_64', 'licenses');
    await handle.cancel();
    const err = await failureOf(handle.result());
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    const status = ProductStatus.parse(await handle.query(productStatusQuery));
    expect(status.state).toBe('cancelled');
    expect(status.variants[0]?.state).toBe('cancelled');
    const variant = await eventually(async () => {
      const s = await variantStatus('g-review-cancel.lic-x86_64');
      return s.state === 'cancelled' ? s : undefined;
    }, 'the variant to be cancelled');
    expect(variant.steps.find((s) => s.id === 'licenses')?.state).toBe('cancelled');
  });
});

describe('publishing preflight', () => {
  it('a bad publish target fails the build before any variant starts, naming each target and why', async () => {
    const publish = (root: string): StepInput =>
      ({ id: 'publish', kind: 'publish', needs: ['image'], params: { publish: { target: 'files', path: `${root}/{product}/{arch}` }, product: 'pub', arch: 'x86_64', artifacts: ['image'] } }) as StepInput;
    const image = { id: 'image', kind: 'exec', params: { argv: ['sh', '-c', 'echo image > "$SBORKA_OUTPUT_DIR/pub.img"'] } } as StepInput;
    const plan = makePlan(
      'pub',
      [
        { id: 'pub-missing', product: 'pub', arch: 'x86_64', taskQueue: QUEUE, steps: [image, publish(missingRoot)] },
        { id: 'pub-file', product: 'pub', arch: 'x86_64', taskQueue: QUEUE, flavour: 'other', steps: [image, publish(fileRoot)] },
      ],
      'core',
    );
    const handle = await startBuild('g-preflight', plan);
    const err = await failureOf(handle.result());
    expect(err.cause).toBeInstanceOf(ApplicationFailure);
    const cause = err.cause as ApplicationFailure;
    expect(cause.type).toBe('PublishPreflightFailed');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain(`pub-missing/publish → ${missingRoot}/{product}/{arch}: target root ${missingRoot} does not exist`);
    expect(cause.message).toContain(`pub-file/publish → ${fileRoot}/{product}/{arch}: target root ${fileRoot} is not a directory`);

    const final = BuildProductResult.parse(cause.details?.[0]);
    expect(final.status).toMatchObject({ state: 'failed', error: cause.message });
    expect(final.variants.map((v) => v.state)).toEqual(['failed', 'failed']);
    expect(await searchState('g-preflight')).toBe('failed');
    // No variant started and no step ran.
    for (const v of plan.variants) {
      const missing = await env.client.workflow.getHandle(`g-preflight.${v.id}`).describe().then(() => undefined, (e: unknown) => e);
      expect(missing).toBeInstanceOf(WorkflowNotFoundError);
    }
    expect((await readLedger(config.storeDir)).filter((e) => e.buildId === 'g-preflight')).toEqual([]);
    ran.splice(ran.indexOf('g-preflight') + 1, plan.variants.length);
  });
});

describe('cancelling', () => {
  it('a build cancelled while its variant\'s start is still in flight ends as cancelled', async () => {
    // The cancellation must land between "start child initiated" and "child started": the
    // case in which the SDK never settles the child's promises. A large plan makes the
    // child's start slower; each try checks from the history whether it hit that window.
    const bulky = { id: 'bulky', kind: 'exec', params: { argv: ['true', ...Array.from({ length: 2000 }, (_, i) => `argument-${i}-${'x'.repeat(100)}`)] } } as StepInput;
    const plan = makePlan('slowstart', [{ id: 'slowstart-x86_64', product: 'slowstart', arch: 'x86_64', taskQueue: QUEUE, steps: [bulky] }], 'core');
    let hit = false;
    for (let attempt = 1; attempt <= 8 && !hit; attempt++) {
      const buildId = `g-cancel-early-${attempt}`;
      const handle = await startBuild(buildId, plan);
      await handle.cancel();
      const closed = await eventually(async () => {
        const d = await handle.describe();
        return d.status.name === 'RUNNING' ? undefined : d.status.name;
      }, `${buildId} to close`, 60_000);
      expect(closed).toBe('CANCELLED');
      const events = ((await handle.fetchHistory()).events ?? []).map((e) => e.eventType);
      const initiated = events.indexOf(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED);
      const cancelAt = events.indexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
      const started = events.indexOf(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED);
      hit = initiated >= 0 && initiated < cancelAt && (started < 0 || cancelAt < started);
      const status = ProductStatus.parse(await handle.query(productStatusQuery));
      expect(status.state).toBe('cancelled');
      expect(status.variants[0]?.state).toBe('cancelled');
    }
    expect(hit).toBe(true);
  });
});

describe('replay', () => {
  it('replays every build of this file against the current workflow code', async () => {
    const histories = await fetchHistories(env.client, ran);
    const replays = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
    const failures: string[] = [];
    for await (const r of replays) if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
    if (WRITE_HISTORIES) saveHistories(histories.filter((h) => /^g-(review|deny|preflight)/.test(h.workflowId)));
  });
});
