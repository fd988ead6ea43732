// The `reproducible` test: the root every image among the step's inputs was written from is
// made again from its lock in a fresh directory (prepare-root with a base layer built
// afresh, then configure, each with the inputs and params it recorded), each image is
// written again from the new root, and every digest must match: the prepared and the
// configured rootfs.tar, then the images. The first mismatch of a chain runs diffoscope (what
// was made from a differing root differs too, and a second report, minutes long for an
// image, would only repeat the first one's finding); its report stays beside the step log (a failed step's outputs are discarded) and the step fails with
// PolicyViolation: retrying cannot make it reproducible.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { Output } from '../../plan/model';
import { Arch } from '../../plan/schemas';
import { badInput } from '../failures';
import type { KindContext, KindResult } from '../kinds/registry';
import type { Step } from '../../plan/plan';
import { STEP_PARAMS, type StepParams } from '../../plan/step-params';
import { STAGING_ENV } from '../orphans';
import { runProcess, stepEnv } from '../process-runner';
import { appendLogLines, readLogTail } from '../step-log';
import { StepStore, sha256File, type StoreEntry } from '../store';
import { configureHostInputs, configureKind } from './configure';
import { prepareRoot } from './prepare-root';
import { RootRecord } from './root-record';
import { planSeed, ROOTFS_TAR, rootSourceOf, writerContext, writerFor, type RootSource } from './writers';

/** What a debian `build` step records about how it was built (see images.ts). */
const BuiltValues = z.looseObject({
  format: z.string(),
  file: z.string(),
  sha256: z.string().length(64),
  arch: Arch,
  branch: z.string(),
  output: Output,
  rootfs: z.object({ step: z.string(), key: z.string().length(64) }),
});

interface Comparison { step: string; file: string; format: string; sha256: string; rebuiltSha256: string; identical: boolean; report?: string; differsSince?: string }

export async function runReproducibleTest(ctx: KindContext): Promise<KindResult> {
  const store = new StepStore(ctx.config.storeDir);
  const built = Object.entries(ctx.inputs)
    .map(([step, entry]) => ({ step, entry, values: BuiltValues.safeParse(entry.manifest.outputs.values) }))
    .filter((b) => b.values.success)
    .map(({ step, entry, values }) => ({ step, entry, v: values.data! }))
    .sort((a, b) => a.step.localeCompare(b.step));
  if (built.length === 0) throw badInput(`step "${ctx.step.id}": none of the steps it needs (${Object.keys(ctx.inputs).join(', ')}) built an image with the debian toolchain`);

  const results: Comparison[] = [];
  // Images written from one root share its rebuild.
  for (const rootKey of [...new Set(built.map((b) => b.v.rootfs.key))]) {
    const images = built.filter((b) => b.v.rootfs.key === rootKey);
    const rootStep = images[0]!.v.rootfs.step;
    const dir = path.join(ctx.workDir, `rebuild-${rootStep}`);
    const { comparisons, src } = await rebuildRoot(ctx, store, rootStep, rootKey, dir);
    results.push(...comparisons);
    for (const { step, entry, v } of images) {
      const work = path.join(dir, `${step}-work`);
      const out = path.join(dir, `${step}-outputs`);
      await fs.mkdir(work);
      await fs.mkdir(out);
      ctx.progress({ phase: `rebuilding ${step}` });
      const params = { output: v.output, fileName: v.file, arch: v.arch, branch: v.branch };
      const rebuilt = await writerFor(v.format)(writerContext(ctx, work), src, { ...params, seed: planSeed(params) }, out);
      await fs.rm(work, { recursive: true, force: true });
      const rootDiffers = comparisons.find((c) => !c.identical)?.step;
      results.push(await compare(ctx, { step, file: v.file, format: v.format }, path.join(entry.outputsDir, v.file), path.join(out, v.file), rebuilt.values.sha256, rootDiffers));
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  const passed = results.every((r) => r.identical);
  const result = { type: 'reproducible', passed, artifacts: results };
  if (!passed) {
    const why = (r: Comparison) => (r.report ? ` (diffoscope report: ${r.report})` : r.differsSince ? ` (made from "${r.differsSince}", which differs already)` : '');
    const bad = results.filter((r) => !r.identical).map((r) => `${r.step}/${r.file}: ${r.sha256} then ${r.rebuiltSha256}${why(r)}`);
    throw ApplicationFailure.create({ type: 'PolicyViolation', nonRetryable: true, message: `not reproducible: ${bad.join('; ')}`, details: [result] });
  }
  await fs.writeFile(path.join(ctx.outputsDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return { values: { passed, artifacts: results.map(({ step, file, sha256 }) => ({ step, file, sha256 })) } };
}

/**
 * Makes the configured root `step` (store key `key`) again from its lock in `dir`; both
 * rootfs.tar (prepared, configured) are compared with the stored ones, and the new
 * configured root is the source the images are written again from.
 */
async function rebuildRoot(ctx: KindContext, store: StepStore, step: string, key: string, dir: string): Promise<{ comparisons: Comparison[]; src: RootSource }> {
  const configured = await recordedRoot(ctx, store, step, key);
  const [preparedStep, preparedKey] = onlyInput(ctx, step, configured.record);
  const prepared = await recordedRoot(ctx, store, preparedStep, preparedKey);
  const [lockStep, lockKey] = onlyInput(ctx, preparedStep, prepared.record);
  const lock = await stored(ctx, store, lockStep, lockKey);
  if ((await configureHostInputs(recordedParams(ctx, configured, 'configure'), ctx.config)) !== configured.record.hostInputs) {
    throw badInput(`step "${ctx.step.id}": the overlays or script files of "${step}" changed on this host since it was built; build again, then test`);
  }
  const preparedParams = recordedParams(ctx, prepared, 'prepare-root');
  const preparedAgain = await makeAgain(ctx, dir, prepared, { [lockStep]: lock }, (again) => prepareRoot(again, preparedParams, 'fresh'));
  const configuredAgain = await makeAgain(ctx, dir, configured, { [preparedStep]: preparedAgain }, (again) => configureKind.execute(again));
  const preparedComparison = await compareRoots(ctx, preparedStep, prepared.entry, preparedAgain);
  const comparisons = [
    preparedComparison,
    await compareRoots(ctx, step, configured.entry, configuredAgain, preparedComparison.identical ? undefined : preparedStep),
  ];
  const tar = path.join(configuredAgain.outputsDir, ROOTFS_TAR);
  return { comparisons, src: { ...rootSourceOf(ctx.step.id, step, configured.entry), rootfsTar: tar, rootfsSha256: comparisons[1]!.rebuiltSha256 } };
}

interface RecordedRoot { step: string; kind: 'prepare-root' | 'configure'; entry: StoreEntry; record: RootRecord }

async function stored(ctx: KindContext, store: StepStore, step: string, key: string): Promise<StoreEntry> {
  const entry = await store.lookup(key, { touch: false });
  if (!entry) throw badInput(`step "${ctx.step.id}": "${step}" (store key ${key}), which the images were made from, is no longer in the store; rebuild it`);
  return entry;
}

async function recordedRoot(ctx: KindContext, store: StepStore, step: string, key: string): Promise<RecordedRoot> {
  const entry = await stored(ctx, store, step, key);
  const record = RootRecord.safeParse(entry.manifest.outputs.values.record);
  const kind = entry.manifest.kind;
  if (!record.success || (kind !== 'prepare-root' && kind !== 'configure')) {
    throw badInput(`step "${ctx.step.id}": "${step}" (store key ${key}) does not record how it was made (made by an older sborka?); rebuild it`);
  }
  return { step, kind, entry, record: record.data };
}

function recordedParams<K extends RecordedRoot['kind']>(ctx: KindContext, root: RecordedRoot, kind: K): StepParams<K> {
  const parsed = STEP_PARAMS[kind].safeParse(root.record.params);
  if (root.kind !== kind || !parsed.success) throw badInput(`step "${ctx.step.id}": "${root.step}" does not record the params of a ${kind} step; rebuild it`);
  return parsed.data as StepParams<K>;
}

function onlyInput(ctx: KindContext, step: string, record: RootRecord): [string, string] {
  const inputs = Object.entries(record.inputs);
  if (inputs.length !== 1) throw badInput(`step "${ctx.step.id}": "${step}" records ${inputs.length} inputs; a root step has one`);
  return inputs[0]!;
}

/** Runs a root step again under `dir` with the params it recorded; its outputs as an entry of no store. */
async function makeAgain(ctx: KindContext, dir: string, root: RecordedRoot, inputs: Record<string, StoreEntry>, run: (again: KindContext) => Promise<KindResult>): Promise<StoreEntry> {
  const outputsDir = path.join(dir, root.step);
  const workDir = path.join(dir, `${root.step}-work`);
  await fs.mkdir(outputsDir, { recursive: true });
  await fs.mkdir(workDir);
  await appendLogLines(ctx.logPath, [`--- sborka: making "${root.step}" again from ${Object.entries(inputs).map(([s, e]) => `"${s}" (store key ${e.key})`).join(', ')} in a fresh directory`]);
  const step = { ...ctx.step, id: root.step, kind: root.kind, needs: Object.keys(inputs), params: root.record.params } as Step;
  const result = await run({ ...ctx, workDir, outputsDir, step, inputs, progress: (u) => ctx.progress({ ...u, phase: `${root.step} again: ${u.phase}` }) });
  await fs.rm(workDir, { recursive: true, force: true });
  const tar = path.join(outputsDir, ROOTFS_TAR);
  const file = { path: ROOTFS_TAR, sha256: await sha256File(tar), size: (await fs.stat(tar)).size };
  const manifest = { key: root.entry.key, kind: root.kind, createdAt: new Date().toISOString(), outputs: { files: [file], values: result.values ?? {} } };
  return { key: root.entry.key, dir, outputsDir, manifest };
}

function compareRoots(ctx: KindContext, step: string, original: StoreEntry, again: StoreEntry, sourceDiffers?: string): Promise<Comparison> {
  return compare(ctx, { step, file: ROOTFS_TAR, format: 'rootfs' }, path.join(original.outputsDir, ROOTFS_TAR), path.join(again.outputsDir, ROOTFS_TAR), again.manifest.outputs.files[0]!.sha256, sourceDiffers);
}

/**
 * The stored file is hashed again: a manifest is no proof that the bytes are still those.
 * `sourceDiffers` names the step this file was made from when that one differs already.
 */
async function compare(ctx: KindContext, what: Pick<Comparison, 'step' | 'file' | 'format'>, original: string, rebuilt: string, rebuiltSha256: string, sourceDiffers?: string): Promise<Comparison> {
  const sha256 = await sha256File(original);
  const comparison: Comparison = { ...what, sha256, rebuiltSha256, identical: sha256 === rebuiltSha256 };
  if (!comparison.identical && sourceDiffers) comparison.differsSince = sourceDiffers;
  else if (!comparison.identical) comparison.report = await diffoscope(ctx, what.step, original, rebuilt);
  return comparison;
}

/** diffoscope's text report of two builds, kept beside the step log; bounded in time and size. */
async function diffoscope(ctx: KindContext, step: string, a: string, b: string): Promise<string> {
  const report = `${ctx.logPath.replace(/\.log$/, '')}.diffoscope-${step}.txt`;
  ctx.progress({ phase: `diffoscope ${step}` });
  const outcome = await runProcess({
    argv: ['timeout', '900', 'diffoscope', '--text', report, '--max-report-size', '20000000', '--max-diff-block-lines', '200', '--', a, b],
    logPath: ctx.logPath, attempt: ctx.attempt, logger: ctx.logger, signal: ctx.signal, cwd: ctx.workDir,
    env: { ...stepEnv(ctx.workDir), [STAGING_ENV]: path.dirname(ctx.outputsDir) },
  });
  if (ctx.signal.aborted) throw ctx.signal.reason;
  // Exit 1 means "differences found"; anything else is diffoscope's own trouble, noted but not fatal.
  if (outcome.exitCode !== 1) await appendLogLines(ctx.logPath, [`--- sborka: diffoscope ended with ${outcome.signal ?? `exit code ${outcome.exitCode}`}`]);
  const head = await readLogTail(report, 30).catch(() => [] as string[]);
  await appendLogLines(ctx.logPath, [`--- sborka: diffoscope report for ${step} at ${report}; its end:`, ...head]);
  await fs.copyFile(report, path.join(ctx.outputsDir, `diffoscope-${step}.txt`)).catch(() => undefined);
  return report;
}
