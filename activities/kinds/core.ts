// The engine's own step kinds, available on every toolchain: noop, exec, checksum, archive.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { badInput } from '../failures';
import { digestTree } from '../host-digest';
import { sha256File } from '../store';
import { defineKind } from './registry';

/** Nothing spawned, nothing written: what the engine's overhead is measured with. */
export const noopKind = defineKind('noop', async () => ({}));

/**
 * Runs argv as is. The program finds its inputs' outputs in $SBORKA_INPUT_<STEP_ID> and
 * writes its own into $SBORKA_OUTPUT_DIR; a line "SBORKA_PROGRESS=<0..1>" reports progress.
 */
export const execKind = defineKind('exec', async (ctx, params) => {
  const env: Record<string, string> = {};
  for (const name of Object.keys(params.env)) {
    if (name.startsWith('SBORKA_')) throw badInput(`step "${ctx.step.id}": params.env.${name}: SBORKA_* variables are set by sborka`);
  }
  for (const [stepId, entry] of Object.entries(ctx.inputs)) {
    const name = inputEnvName(stepId);
    if (env[name] !== undefined) throw badInput(`step "${ctx.step.id}": inputs map to the same variable ${name}; rename one of the steps`);
    env[name] = entry.outputsDir;
  }
  env.SBORKA_OUTPUT_DIR = ctx.outputsDir;
  env.SBORKA_WORK_DIR = ctx.workDir;
  const outcome = await ctx.run(params.argv, {
    env: { ...params.env, ...env },
    nonRetryableExitCodes: params.nonRetryableExitCodes,
    onLine: (line) => {
      const m = /^SBORKA_PROGRESS=([0-9.]+)\s*$/.exec(line);
      const fraction = m ? Number(m[1]) : NaN;
      ctx.progress(fraction >= 0 && fraction <= 1 ? { phase: 'running', fraction, lastLine: line } : { phase: 'running', lastLine: line });
    },
  });
  return { values: { exitCode: outcome.exitCode } };
});

/** The variable naming an input's output directory: SBORKA_INPUT_ plus the step id, upper-cased, other characters as '_'. */
export function inputEnvName(stepId: string): string {
  return `SBORKA_INPUT_${stepId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** SHA256SUMS (sha256sum's format) over every file of every input, re-hashed from the store. */
export const checksumKind = defineKind('checksum', async (ctx, params) => {
  const lines: string[] = [];
  for (const stepId of Object.keys(ctx.inputs).sort()) {
    const entry = ctx.inputs[stepId]!;
    for (const file of entry.manifest.outputs.files) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (/[\n\\]/.test(file.path)) throw badInput(`step "${ctx.step.id}": input file ${JSON.stringify(file.path)} has a name sha256sum cannot list`);
      const actual = await sha256File(path.join(entry.outputsDir, file.path));
      if (actual !== file.sha256) {
        // The store is content-checked here: a corrupted entry must not be signed off.
        throw new Error(`store entry ${entry.key}: ${file.path} has sha256 ${actual}, its manifest says ${file.sha256}`);
      }
      lines.push(`${actual}  ${stepId}/${file.path}`);
      ctx.progress({ phase: 'hashing', lastLine: `${stepId}/${file.path}` });
    }
  }
  const out = path.join(ctx.outputsDir, params.name);
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, lines.map((l) => `${l}\n`).join(''));
  return { values: { files: lines.length } };
});

/**
 * A reproducible tar.gz made by the real tar and gzip: sorted names, one mtime, owner 0,
 * no name or time in the gzip header. sourceDir is absolute, "input:<step-id>[/sub/dir]"
 * (an input's outputs) or relative to the project root.
 */
export const archiveKind = defineKind('archive', async (ctx, params) => {
  const sourceDir = resolveSourceDir(ctx.step.id, params.sourceDir, ctx.inputs, ctx.config.projectRoot);
  for (const [i, rel] of params.include.entries()) {
    try {
      await fs.lstat(path.join(sourceDir, rel));
    } catch {
      throw badInput(`step "${ctx.step.id}": params.include[${i}]: ${rel} does not exist in ${sourceDir}`);
    }
  }
  const tarPath = path.join(ctx.workDir, 'archive.tar');
  ctx.progress({ phase: 'tar' });
  await ctx.run([
    'tar', '--create', `--file=${tarPath}`, `--directory=${sourceDir}`,
    '--sort=name', `--mtime=@${params.mtime}`, '--owner=0', '--group=0', '--numeric-owner', '--format=gnu',
    '--', ...params.include,
  ]);
  ctx.progress({ phase: 'gzip' });
  await ctx.run(['gzip', '-n', '-f', tarPath]);
  const out = path.join(ctx.outputsDir, params.name);
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.rename(`${tarPath}.gz`, out);
  return { values: { archive: params.name } };
}, async (params, config) =>
  // The files' content joins the key: an edited source must not come back from the store.
  params.sourceDir.startsWith('input:') ? undefined : digestTree(path.resolve(config.projectRoot, params.sourceDir), params.include),
);

function resolveSourceDir(stepId: string, sourceDir: string, inputs: Record<string, { outputsDir: string }>, projectRoot: string): string {
  const m = /^input:([^/]+)(?:\/(.*))?$/.exec(sourceDir);
  if (m) {
    const [, inputId = '', sub = ''] = m;
    const input = inputs[inputId];
    if (!input) throw badInput(`step "${stepId}": params.sourceDir: "${inputId}" is not among the steps it needs`);
    if (sub.split('/').includes('..')) throw badInput(`step "${stepId}": params.sourceDir: must not contain ".."`);
    return path.join(input.outputsDir, sub);
  }
  return path.resolve(projectRoot, sourceDir);
}
