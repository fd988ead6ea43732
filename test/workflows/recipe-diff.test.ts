// The recipe's text diff through `sborka diff` and the service on two real builds (dev
// server, real activities): each plan carries the digest of a real compilation of
// products/debian/live.sborka, whose imported minimal.sborka differs by one line, recorded
// as `sborka build` records it; a third build's digest has no record.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { recordCompiled } from '../../activities/recipe-record';
import { createQueueWatchActivities } from '../../activities/queue-watch';
import { diffCommand } from '../../cli/commands/diff';
import { runCommand } from '../helpers/run-command';
import { loadConfig } from '../../config/config';
import { compile } from '../../dsl/compile';
import { parsePlan } from '../../plan/plan';
import { Changes } from '../../publish/changes';
import { diffBuilds } from '../../service/changes';
import { BuildProduct } from '../../workflows';
import { startTemporal, startWorker, type RunningWorker, stopTestEnv } from '../helpers/temporal-env';

const QUEUE = 'build-x86_64';
const ROOT = path.join(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-recipe-diff-'));
const config = loadConfig({ SBORKA_STATE_DIR: path.join(tmp, 'state') });
const saved = { address: process.env.TEMPORAL_ADDRESS, state: process.env.SBORKA_STATE_DIR };
let env: TestWorkflowEnvironment;
let worker: RunningWorker;

beforeAll(async () => {
  env = await startTemporal();
  worker = await startWorker(env, { taskQueue: QUEUE, activities: { ...createActivities({ config, logger: pino({ level: 'silent' }) }), ...createQueueWatchActivities(env.client) } });
  Object.assign(process.env, { TEMPORAL_ADDRESS: env.address, SBORKA_STATE_DIR: path.join(tmp, 'state') });
}, 120_000);

afterAll(async () => {
  for (const [k, v] of [['TEMPORAL_ADDRESS', saved.address], ['SBORKA_STATE_DIR', saved.state]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await stopTestEnv(env, [worker], [tmp]);
}, 60_000);

const original = fs.readFileSync(path.join(ROOT, 'products/debian/minimal.sborka'), 'utf8');

/** The digest of live.sborka compiled with this minimal.sborka; recorded unless `record` is false. */
function recipe(minimal: string, record = true): string {
  const read = (p: string) => (p === 'products/debian/minimal.sborka' ? minimal : fs.existsSync(path.join(ROOT, p)) ? fs.readFileSync(path.join(ROOT, p), 'utf8') : undefined);
  const c = compile(['products/debian/live.sborka'], { read });
  expect(c.errorCount).toBe(0);
  if (record) recordCompiled(config.storeDir, { kind: 'community' }, c.files, 'products/debian/live.sborka', c.digest);
  return c.digest;
}

async function build(id: string, recipeDigest: string): Promise<void> {
  const plan = parsePlan({
    version: 1, product: 'recipedemo', toolchain: { name: 'core', version: 'recipe-1' }, recipeDigest,
    variants: [{ id: 'v', product: 'recipedemo', arch: 'x86_64', taskQueue: QUEUE, steps: [{ id: 'image', kind: 'exec', cacheable: false, params: { argv: ['true'] } }] }],
  });
  await env.client.workflow.execute(BuildProduct, { taskQueue: QUEUE, workflowId: id, args: [{ buildId: id, plan }] });
}

it('shows the imported file that changed between two builds, and says when a build has no recorded text', async () => {
  await build('recipe-1', recipe(original));
  await build('recipe-2', recipe(original.replace(/^( *)systemd-sysv\n/m, '$1systemd-sysv\n$1less\n')));
  await build('recipe-3', recipe(original.replace('systemd-sysv', 'systemd-sysv-unrecorded'), false));

  const [c] = await diffBuilds(env.client, 'recipe-2', undefined, { debDir: path.join(tmp, 'debs'), storeDir: config.storeDir });
  expect(c!.from.buildId).toBe('recipe-1');
  expect(c!.recipe.files?.map((f) => [f.name, f.status, f.lines.filter((l) => /^[-+]/.test(l))])).toEqual([['minimal.sborka', 'changed', ['+    less']]]);

  const run = (args: string[]) => runCommand(diffCommand, args, tmp);
  const json = await run(['recipe-2', 'recipe-1', '--json']);
  expect(json.code).toBe(0);
  expect(Changes.array().parse(JSON.parse(json.text))[0]!.recipe.files?.[0]?.name).toBe('minimal.sborka');
  const text = await run(['recipe-2', 'recipe-1']);
  expect(text.text).toContain('- minimal.sborka changed\n\n```diff\n--- a/minimal.sborka\n+++ b/minimal.sborka\n@@');
  expect(text.text).toContain('\n+    less\n');
  expect((await run(['recipe-1', 'recipe-1'])).text).toContain('- recipe unchanged');
  expect((await run(['recipe-3', 'recipe-2'])).text).toContain('- recipe text not recorded for recipe-3: no text diff');
}, 120_000);
