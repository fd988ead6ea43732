// Schemas both the BuildPlan (plan.ts) and the step params use: names, arches, owners,
// schedules, relative paths, artifact references. Kept apart from plan.ts because plan.ts
// imports the step params.
import { z } from 'zod';
import { OUTPUT_FORMATS } from './formats';

/** Names that end up in file names, task queues and workflow ids. */
export const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._+-]{0,127}$/, 'must be lower-case letters, digits and . _ + - (starting with a letter or digit)');

export const Arch = z.enum([
  'x86_64', 'i586', 'aarch64', 'armh', 'ppc64le', 'riscv64', 'loongarch64', 'e2kv4', 'e2kv5', 'e2kv6',
]);
export type Arch = z.infer<typeof Arch>;

export const Owner = z.union([
  z.object({ kind: z.literal('community') }),
  z.object({ kind: z.literal('maintainer'), team: Name }),
  z.object({ kind: z.literal('partner'), name: Name }),
]);

export const Schedule = z.object({
  cron: z.string().min(1),
  timezone: z.string().default('UTC'),
});


const MAX_PATH_CHARS = 1024;
const MAX_SEGMENT_CHARS = 255;

/**
 * Why `p` is not a confined relative path (undefined when it is). Checked on the text as
 * given, not after normalising: a plan says exactly which file it means, so "a/./b",
 * "a//b" and "a/" are refused as well as "/x" and "..". Percent escapes of ".", "/" and
 * "\" are refused too: nothing decodes them, but a path that looks like an escape is a probe.
 */
export function relativePathProblem(p: string): string | undefined {
  if (p.length === 0) return 'is empty';
  if (p.length > MAX_PATH_CHARS) return `is longer than ${MAX_PATH_CHARS} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'holds a NUL or another control character';
  if (p.includes('\\')) return 'holds a backslash';
  if (/%(2e|2f|5c|00)/i.test(p)) return 'holds a percent-encoded ".", "/", "\\" or NUL';
  if (p.startsWith('/')) return 'is absolute';
  if (p.startsWith('~')) return 'starts with "~"';
  for (const seg of p.split('/')) {
    if (seg === '') return 'has an empty segment ("//" or a trailing "/")';
    if (seg === '.' || seg === '..') return `has a "${seg}" segment`;
    if (seg.length > MAX_SEGMENT_CHARS) return `has a segment longer than ${MAX_SEGMENT_CHARS} characters`;
  }
  return undefined;
}

/**
 * A relative path that stays inside the directory it is joined to: every path a plan holds
 * (recipe files, outputs, artifacts) is one, so no plan can name a host file by itself.
 */
export const RelativePath = z.string().superRefine((p, ctx) => {
  const why = relativePathProblem(p);
  if (why) ctx.addIssue({ code: 'custom', message: `must be a relative path inside its directory: ${JSON.stringify(p.slice(0, 100))} ${why}` });
});

/** One file name: a RelativePath of a single segment (an image in its step's outputs). */
export const FileName = RelativePath.refine((p) => !p.includes('/'), 'must be a file name without "/"');

/**
 * A host directory, absolute and normalised. Only whoever loads a plan from a recipe (the
 * CLI, the service from its own configuration) sets one; the API refuses it from partners.
 */
export const HostDir = z.string().superRefine((p, ctx) => {
  const why = !p.startsWith('/') ? 'is not absolute'
    : p.length > 1 && relativePathProblem(p.slice(1).replace(/\/$/, ''));
  if (why) ctx.addIssue({ code: 'custom', message: `must be an absolute, normalised host directory: ${JSON.stringify(p.slice(0, 100))} ${why}` });
});

export const ArtifactFormat = z.enum([...OUTPUT_FORMATS, 'file', 'report', 'sbom']);

/** A file a step produced: the same shape as a plan variant's `artifacts` entries (plan.ts). */
export const ArtifactRef = z.object({
  name: Name,
  /** The step whose outputs hold the file. */
  step: Name,
  /** Path inside that step's outputs. */
  path: RelativePath,
  format: ArtifactFormat,
});
