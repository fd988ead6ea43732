// The recipe text a build was compiled from, and its diff between two builds. A build's plan
// keeps only the digest (dsl/compile.ts: sha256 over each file's sha256, in load order), so
// the texts are recorded beside it (activities/recipe-record.ts, keyed by that digest) and
// compared here with jsdiff. Names are relative to the declaring recipe's directory: never a
// host path, and a recorded set read back with an absolute or `..` name is refused whole.
import { posix } from 'node:path';
import { structuredPatch } from 'diff';
import { z } from 'zod';
import { sha256Hex } from '../plan/cache-key';

export const RECIPE_SOURCES_SCHEMA = 'sborka.recipe-sources/1';
/** One file's bound: the compiler's own recipe size limit (dsl/parse.ts MAX_RECIPE_BYTES). */
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;
export const MAX_SOURCE_FILES = 256;
/** All recorded texts together. */
export const MAX_SET_BYTES = 16 * 1024 * 1024;
/** Lines of one file's diff shown in a report; the rest is counted. */
export const DIFF_LINES_PER_FILE = 400;
/**
 * Beyond this many inserted plus deleted lines jsdiff gives up (deterministically) and the
 * file is only counted: its cost grows with the square of it (1,000: 0.2 s on 15,000 lines
 * all replaced; 5,000: 9 s), and a report shows 400 lines of it anyway.
 */
const MAX_EDIT_LENGTH = 1_000;

const SOURCE_EXTENSION = '.sborka';

/** Why a recorded name is refused; undefined when it is a plain relative recipe file name. */
export function sourceNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 255) return 'is empty or longer than 255 characters';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is absolute';
  if (name.includes('\\') || [...name].some((c) => c.charCodeAt(0) < 0x20)) return 'holds a backslash or a control character';
  if (name.split('/').some((s) => s === '' || s === '.' || s === '..')) return 'has an empty, `.` or `..` segment';
  if (!name.endsWith(SOURCE_EXTENSION)) return `is not a ${SOURCE_EXTENSION} file`;
  return undefined;
}

const SourceName = z.string().superRefine((n, ctx) => {
  const why = sourceNameProblem(n);
  if (why) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `recipe file name ${JSON.stringify(n.slice(0, 80))} ${why}` });
});

export const RecipeSources = z.object({
  schema: z.literal(RECIPE_SOURCES_SCHEMA),
  /** The plan's recipeDigest. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  /** In the compiler's load order. */
  files: z.array(z.object({ name: SourceName, text: z.string().max(MAX_SOURCE_BYTES) })).max(MAX_SOURCE_FILES),
  /** Files read but not recorded (outside the recipe's directory, not recipes, or too large). */
  omitted: z.number().int().min(0).default(0),
}).superRefine((s, ctx) => {
  if (new Set(s.files.map((f) => f.name)).size !== s.files.length) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a recipe file is recorded twice' });
  // A complete set must be the texts of its digest: a set stored under another build's digest is not taken.
  if (s.omitted === 0 && sourcesDigest(s.files.map((f) => f.text)) !== s.digest) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'the recorded texts do not give the recorded digest' });
});
export type RecipeSources = z.infer<typeof RecipeSources>;
export type RecipeFile = RecipeSources['files'][number];

/** The compiler's digest of a list of texts (dsl/compile.ts). */
export function sourcesDigest(texts: readonly string[]): string {
  return sha256Hex(texts.map((t) => sha256Hex(t)).join('\n'));
}

/**
 * The set to record for a compilation: its files (`path` as the compiler's host names them)
 * relative to `recipeDir`, the directory of the declaring recipe in the same naming.
 */
export function recordSources(files: readonly { path: string; text: string }[], recipeDir: string, digest: string): RecipeSources {
  const out: RecipeFile[] = [];
  let omitted = 0;
  let total = 0;
  for (const f of files) {
    const name = posix.relative(recipeDir || '.', f.path);
    const bytes = Buffer.byteLength(f.text);
    const fits = bytes <= MAX_SOURCE_BYTES && total + bytes <= MAX_SET_BYTES && out.length < MAX_SOURCE_FILES;
    if (!fits || sourceNameProblem(name) !== undefined || out.some((o) => o.name === name)) omitted++;
    else {
      out.push({ name, text: f.text });
      total += bytes;
    }
  }
  return { schema: RECIPE_SOURCES_SCHEMA, digest, files: out, omitted };
}

export const RecipeFileDiff = z.object({
  name: z.string(),
  status: z.enum(['added', 'removed', 'changed']),
  /** Unified diff lines (`@@` hunk headers, ` `, `-`, `+`), at most DIFF_LINES_PER_FILE. */
  lines: z.array(z.string()),
  /** Diff lines left out by the cap. */
  more: z.number().int().min(0),
  /** Set when the file changed too much to diff line by line: its line counts. */
  tooLarge: z.object({ from: z.number().int(), to: z.number().int() }).optional(),
});
export type RecipeFileDiff = z.infer<typeof RecipeFileDiff>;

const lineCount = (t: string) => (t === '' ? 0 : t.split('\n').length - (t.endsWith('\n') ? 1 : 0));

function fileDiff(name: string, a: string | undefined, b: string | undefined, cap: number): RecipeFileDiff | undefined {
  if (a === b) return undefined;
  const status = a === undefined ? 'added' : b === undefined ? 'removed' : 'changed';
  // A whole file added or removed is one hunk of it: no diff to search for.
  if (a === undefined || b === undefined) {
    const text = (a ?? b ?? '').split('\n');
    if (text[text.length - 1] === '') text.pop();
    const sign = a === undefined ? '+' : '-';
    const all = [a === undefined ? `@@ -0,0 +1,${text.length} @@` : `@@ -1,${text.length} +0,0 @@`, ...text.map((l) => `${sign}${l}`)];
    return { name, status, lines: all.slice(0, cap), more: Math.max(0, all.length - cap) };
  }
  const patch = structuredPatch(`a/${name}`, `b/${name}`, a, b, '', '', { context: 3, maxEditLength: MAX_EDIT_LENGTH });
  if (!patch) return { name, status, lines: [], more: 0, tooLarge: { from: lineCount(a), to: lineCount(b) } };
  const all = patch.hunks.flatMap((h) => [`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, ...h.lines]);
  return { name, status, lines: all.slice(0, cap), more: Math.max(0, all.length - cap) };
}

/** Per file, by name: what changed from one recorded set to the other (files in neither order). */
export function diffSources(from: readonly RecipeFile[], to: readonly RecipeFile[], cap = DIFF_LINES_PER_FILE): RecipeFileDiff[] {
  const a = new Map(from.map((f) => [f.name, f.text]));
  const b = new Map(to.map((f) => [f.name, f.text]));
  return [...new Set([...a.keys(), ...b.keys()])].sort().flatMap((n) => fileDiff(n, a.get(n), b.get(n), cap) ?? []);
}

/** The diff of one file as CHANGES.md shows it. */
export function fileDiffMarkdown(d: RecipeFileDiff): string[] {
  const out = [`- ${d.name} ${d.status}`];
  if (d.tooLarge) return [...out, `  (too many changes to show: ${d.tooLarge.from} → ${d.tooLarge.to} lines)`];
  // A fence longer than any backtick run in the text keeps the recipe's own lines inside.
  const longest = Math.max(2, ...d.lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))));
  const fence = '`'.repeat(longest + 1);
  out.push('', `${fence}diff`, d.status === 'added' ? '--- /dev/null' : `--- a/${d.name}`, d.status === 'removed' ? '+++ /dev/null' : `+++ b/${d.name}`, ...d.lines, fence);
  if (d.more > 0) out.push(`${d.more} more lines`);
  out.push('');
  return out;
}
