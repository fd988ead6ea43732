// The `reproducible` test on the alt toolchain: each image among the step's inputs is built
// a second time from the same lock and configure outputs, by the build kind itself with the
// params it recorded, in a fresh work directory (so a fresh hasher workdir and BUILDDIR and
// a fresh copy of the profiles tree), with SOURCE_DATE_EPOCH and DATE from the lock. The
// digests must match. A mismatch runs diffoscope when the host has it, else writes a listing
// diff (packages, sizes, first differing byte); the report stays beside the step log and the
// step fails with PolicyViolation: retrying cannot make it reproducible.
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { Step } from '../../../plan/plan';
import { badInput } from '../../failures';
import type { KindContext, KindResult } from '../../kinds/registry';
import { appendLogLines } from '../../step-log';
import { StepStore, sha256File, type StoreEntry } from '../../store';
import { buildKind, LIST_RPMS_FILE } from './build';
import type { HostSource } from './shared';

/** What an alt build step records for its rebuild (build.ts). */
const Built = z.looseObject({
  image: z.string(),
  rebuild: z.object({ params: z.record(z.string(), z.unknown()), inputs: z.record(z.string(), z.string()) }),
});

interface Comparison { step: string; file: string; sha256: string; rebuiltSha256: string; identical: boolean; report?: string }

export async function runAltReproducibleTest(ctx: KindContext, host: HostSource): Promise<KindResult> {
  const built = Object.entries(ctx.inputs)
    .map(([step, entry]) => ({ step, entry, v: Built.safeParse(entry.manifest.outputs.values) }))
    .filter((b) => b.v.success && b.entry.manifest.kind === 'build')
    .sort((a, b) => a.step.localeCompare(b.step));
  if (built.length === 0) throw badInput(`step "${ctx.step.id}": none of the steps it needs (${Object.keys(ctx.inputs).join(', ') || 'none'}) built an image with the alt toolchain`);
  const store = new StepStore(ctx.config.storeDir);
  const results: Comparison[] = [];
  for (const { step, entry, v } of built) {
    const { image, rebuild } = v.data!;
    const inputs: Record<string, StoreEntry> = {};
    for (const [id, key] of Object.entries(rebuild.inputs)) {
      const e = await store.lookup(key, { touch: false });
      if (!e) throw badInput(`step "${ctx.step.id}": "${id}" (store key ${key}), which "${step}" was built from, is no longer in the store; build again, then test`);
      inputs[id] = e;
    }
    const dir = path.join(ctx.workDir, `rebuild-${step}`);
    const outputsDir = path.join(dir, 'outputs');
    const workDir = path.join(dir, 'work');
    await fs.mkdir(outputsDir, { recursive: true });
    await fs.mkdir(workDir, { recursive: true });
    await appendLogLines(ctx.logPath, [`--- sborka: building "${step}" again from ${Object.entries(inputs).map(([s, e]) => `"${s}" (store key ${e.key})`).join(', ')} in a fresh directory`]);
    const again = { ...ctx.step, id: step, kind: 'build', needs: Object.keys(inputs), params: rebuild.params } as Step;
    await buildKind(host).execute({ ...ctx, step: again, inputs, workDir, outputsDir, progress: (u) => ctx.progress({ ...u, phase: `${step} again: ${u.phase}` }) });
    const original = path.join(entry.outputsDir, image);
    const rebuilt = path.join(outputsDir, image);
    const c: Comparison = { step, file: image, sha256: await sha256File(original), rebuiltSha256: await sha256File(rebuilt), identical: false };
    c.identical = c.sha256 === c.rebuiltSha256;
    if (!c.identical) c.report = await explainDifference(ctx, step, { original, rebuilt, listA: path.join(entry.outputsDir, LIST_RPMS_FILE), listB: path.join(outputsDir, LIST_RPMS_FILE) });
    results.push(c);
    await fs.rm(dir, { recursive: true, force: true });
  }
  const passed = results.every((r) => r.identical);
  const result = { type: 'reproducible', passed, artifacts: results };
  if (!passed) {
    const bad = results.filter((r) => !r.identical).map((r) => `${r.step}/${r.file}: ${r.sha256} then ${r.rebuiltSha256}${r.report ? ` (report: ${r.report})` : ''}`);
    throw ApplicationFailure.create({ type: 'PolicyViolation', nonRetryable: true, message: `not reproducible: ${bad.join('; ')}`, details: [result] });
  }
  await fs.writeFile(path.join(ctx.outputsDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return { values: { passed, artifacts: results.map(({ step, file, sha256 }) => ({ step, file, sha256 })) } };
}

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** diffoscope's report when installed, else a listing diff; kept beside the step log and in the outputs. */
async function explainDifference(ctx: KindContext, step: string, f: { original: string; rebuilt: string; listA: string; listB: string }): Promise<string> {
  const report = `${ctx.logPath.replace(/\.log$/, '')}.reproducible-${step}.txt`;
  ctx.progress({ phase: `comparing ${step}` });
  if (onPath('diffoscope')) {
    const outcome = await ctx.run(['timeout', '900', 'diffoscope', '--text', report, '--max-report-size', '20000000', '--max-diff-block-lines', '200', '--', f.original, f.rebuilt], { nonRetryableExitCodes: [] }).catch((err: unknown) => err);
    // Exit 1 is "differences found": the runner reports it as a failure, which is the expected case here.
    if (!(await fs.stat(report).catch(() => undefined))) await appendLogLines(ctx.logPath, [`--- sborka: diffoscope wrote no report (${(outcome as Error).message ?? 'no output'})`]);
  } else {
    await fs.writeFile(report, await listingDiff(f));
  }
  await fs.copyFile(report, path.join(ctx.outputsDir, path.basename(report))).catch(() => undefined);
  await appendLogLines(ctx.logPath, [`--- sborka: ${step} differs; report at ${report}`]);
  return report;
}

/** Without diffoscope: the package lists' differences, the sizes and the first byte that differs. */
async function listingDiff(f: { original: string; rebuilt: string; listA: string; listB: string }): Promise<string> {
  const a = (await fs.readFile(f.listA, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const b = (await fs.readFile(f.listB, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const [x, y] = [await fs.readFile(f.original), await fs.readFile(f.rebuilt)];
  let at = 0;
  while (at < x.length && at < y.length && x[at] === y[at]) at++;
  return [
    `# diffoscope is not installed here; a listing of the difference instead`,
    `first build: ${f.original} (${x.length} bytes)`,
    `second build: ${f.rebuilt} (${y.length} bytes)`,
    `first differing byte at offset ${at}`,
    `packages only in the first build: ${a.filter((p) => !b.includes(p)).join(' ') || 'none'}`,
    `packages only in the second build: ${b.filter((p) => !a.includes(p)).join(' ') || 'none'}`,
    '',
  ].join('\n');
}
