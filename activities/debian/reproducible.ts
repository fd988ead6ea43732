// The `reproducible` test: every image among the step's inputs is written again from the
// same configured root in a fresh work directory, and the digests must match. A mismatch
// runs diffoscope; its report stays beside the step log (a failed step's outputs are
// discarded) and the step fails with PolicyViolation: retrying cannot make it reproducible.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { Output } from '../../dsl/model';
import { Arch } from '../../dsl/plan-schemas';
import { badInput } from '../failures';
import type { KindContext, KindResult } from '../kinds/registry';
import { STAGING_ENV } from '../orphans';
import { runProcess } from '../process-runner';
import { appendLogLines, readLogTail } from '../step-log';
import { StepStore, sha256File } from '../store';
import { stepEnv } from '../process-runner';
import { planSeed, rootSourceOf, writerContext, writerFor } from './writers';

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

interface Comparison { step: string; file: string; format: string; sha256: string; rebuiltSha256: string; identical: boolean; report?: string }

export async function runReproducibleTest(ctx: KindContext): Promise<KindResult> {
  const store = new StepStore(ctx.config.storeDir);
  const built = Object.entries(ctx.inputs)
    .map(([step, entry]) => ({ step, entry, values: BuiltValues.safeParse(entry.manifest.outputs.values) }))
    .filter((b) => b.values.success)
    .sort((a, b) => a.step.localeCompare(b.step));
  if (built.length === 0) throw badInput(`step "${ctx.step.id}": none of the steps it needs (${Object.keys(ctx.inputs).join(', ')}) built an image with the debian toolchain`);

  const results: Comparison[] = [];
  for (const { step, entry, values } of built) {
    const v = values.data!;
    const rootEntry = await store.lookup(v.rootfs.key, { touch: false });
    if (!rootEntry) throw badInput(`step "${ctx.step.id}": the root "${step}" was built from (store key ${v.rootfs.key}) is no longer in the store; rebuild it`);
    const src = rootSourceOf(ctx.step.id, v.rootfs.step, rootEntry);
    const dir = path.join(ctx.workDir, `rebuild-${step}`);
    const work = path.join(dir, 'work');
    const out = path.join(dir, 'outputs');
    await fs.mkdir(work, { recursive: true });
    await fs.mkdir(out);
    ctx.progress({ phase: `rebuilding ${step}` });
    const params = { output: v.output, fileName: v.file, arch: v.arch, branch: v.branch };
    const rebuilt = await writerFor(v.format)(writerContext(ctx, work), src, { ...params, seed: planSeed(params) }, out);
    const original = path.join(entry.outputsDir, v.file);
    // The stored file is hashed again: a manifest is no proof that the bytes are still those.
    const sha256 = await sha256File(original);
    const comparison: Comparison = { step, file: v.file, format: v.format, sha256, rebuiltSha256: rebuilt.values.sha256, identical: sha256 === rebuilt.values.sha256 };
    if (!comparison.identical) comparison.report = await diffoscope(ctx, step, original, path.join(out, v.file));
    results.push(comparison);
    await fs.rm(dir, { recursive: true, force: true });
  }
  const passed = results.every((r) => r.identical);
  const result = { type: 'reproducible', passed, artifacts: results };
  if (!passed) {
    const bad = results.filter((r) => !r.identical).map((r) => `${r.step}/${r.file}: ${r.sha256} then ${r.rebuiltSha256}${r.report ? ` (diffoscope report: ${r.report})` : ''}`);
    throw ApplicationFailure.create({ type: 'PolicyViolation', nonRetryable: true, message: `not reproducible: ${bad.join('; ')}`, details: [result] });
  }
  await fs.writeFile(path.join(ctx.outputsDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return { values: { passed, artifacts: results.map(({ step, file, sha256 }) => ({ step, file, sha256 })) } };
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
