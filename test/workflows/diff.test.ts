// `sborka diff` on two real builds (dev server, real activities, small exec steps): the
// first build's lock has four packages, the second's adds one, upgrades one, downgrades
// one and removes one; their images differ in size; the debs in the deb cache carry the
// changelogs. The service function and the CLI, text and --json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { diffCommand } from '../../cli/commands/diff';
import { runCommand } from '../helpers/run-command';
import { loadConfig } from '../../config/config';
import { parsePlan, type PlanInput } from '../../plan/plan';
import { Changes } from '../../publish/changes';
import { diffBuilds } from '../../service/changes';
import { BuildProduct } from '../../workflows';
import { AFTER, BEFORE, fillDebCache, lockOf, type Pkg } from '../publish/changes-helpers';
import { startTemporal, startWorker, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';

const QUEUE = 'build-x86_64';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-diff-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
const debs = path.join(tmp, 'debs');
const saved = { cache: process.env.SBORKA_DEBIAN_CACHE_DIR, address: process.env.TEMPORAL_ADDRESS, state: process.env.SBORKA_STATE_DIR };
let env: TestWorkflowEnvironment;
let worker: RunningWorker;

beforeAll(async () => {
  fillDebCache(debs);
  env = await startTemporal();
  worker = await startWorker(env, { taskQueue: QUEUE, activities: { ...createActivities({ config, logger: pino({ level: 'silent' }) }), ...createQueueWatchActivities(env.client) } });
  Object.assign(process.env, { SBORKA_DEBIAN_CACHE_DIR: debs, TEMPORAL_ADDRESS: env.address, SBORKA_STATE_DIR: path.join(tmp, 'state') });
}, 120_000);

afterAll(async () => {
  for (const [k, v] of [['SBORKA_DEBIAN_CACHE_DIR', saved.cache], ['TEMPORAL_ADDRESS', saved.address], ['SBORKA_STATE_DIR', saved.state]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await stopTestEnv(env, [worker], [tmp]);
}, 60_000);

type StepInput = PlanInput['variants'][number]['steps'][number];

/** resolve copies the lock into its outputs; image writes `size` bytes; the image is the variant's artifact. */
function plan(name: string, packages: readonly Pkg[], size: number) {
  const lock = path.join(tmp, `${name}.lock.json`);
  fs.writeFileSync(lock, lockOf(packages));
  const steps = [
    { id: 'resolve', kind: 'exec', cacheable: false, params: { argv: ['sh', '-c', 'cp "$1" "$SBORKA_OUTPUT_DIR/packages.lock.json"', 'sh', lock] } },
    { id: 'image', kind: 'exec', needs: ['resolve'], params: { argv: ['sh', '-c', 'head -c "$1" /dev/zero > "$SBORKA_OUTPUT_DIR/demo.img"', 'sh', String(size)] } },
  ] as StepInput[];
  return parsePlan({
    version: 1,
    product: 'diffdemo',
    toolchain: { name: 'core', version: 'diff-1' },
    variants: [{ id: 'v', product: 'diffdemo', arch: 'x86_64', taskQueue: QUEUE, steps, artifacts: [{ name: 'img', step: 'image', path: 'demo.img', format: 'img' }] }],
  });
}

async function build(id: string, packages: readonly Pkg[], size: number): Promise<void> {
  await env.client.workflow.execute(BuildProduct, { taskQueue: QUEUE, workflowId: id, args: [{ buildId: id, plan: plan(id, packages, size) }] });
}

it('sborka diff lists the exact package changes with their changelogs and the size delta', async () => {
  await build('diff-1', BEFORE, 1000);
  await build('diff-2', AFTER, 1234);

  // The service: by default against the last succeeded build before it.
  const [c] = await diffBuilds(env.client, 'diff-2', undefined, { debDir: debs });
  expect(c).toBeDefined();
  expect(c!.from.buildId).toBe('diff-1');
  expect(c!.packages.added).toEqual([{ name: 'libnew', version: '0.1-1', arch: 'amd64' }]);
  expect(c!.packages.removed).toEqual([{ name: 'libgone', version: '0.9-1', arch: 'amd64' }]);
  expect(c!.packages.upgraded.map((p) => [p.name, p.from, p.to, p.changelog.map((e) => e.version)])).toEqual([['libup', '1.2-1', '1.10~rc1-1', ['1.10~rc1-1', '1.3-1']]]);
  expect(c!.packages.downgraded.map((p) => [p.name, p.from, p.to, p.changelog.map((e) => e.version)])).toEqual([['libdown', '2:3.0-2', '2:3.0-1', ['2:3.0-2']]]);
  expect(c!.outputs).toEqual([{ name: 'img', from: 1000, to: 1234, delta: 234 }]);
  expect(c!.recipe.steps).toEqual({ added: [], removed: [], changed: ['image', 'resolve'] });

  // The CLI, text and --json.
  const run = (args: string[]) => runCommand(diffCommand, args, tmp);
  const json = await run(['diff-2', 'diff-1', '--json']);
  expect(json.code).toBe(0);
  expect(Changes.array().parse(JSON.parse(json.text))).toEqual([c]);
  const text = await run(['diff-2']);
  expect(text.text).toContain('1 added, 1 removed, 1 upgraded, 1 downgraded.');
  expect(text.text).toContain('- downgraded libdown 2:3.0-2 → 2:3.0-1\n  - 2:3.0-2 (Sborka Tests <tests@sborka.invalid>  Mon, 03 Jan 2024 12:00:00 +0000)\n    * Change 3 of libdown: made 2:3.0-2.\n');
  expect(text.text).toContain('- img: 1000 → 1234 bytes (+234)');
}, 120_000);
