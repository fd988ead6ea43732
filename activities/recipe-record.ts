// Where a build's recipe text is kept (publish/recipe-sources.ts): one JSON file per recipe
// digest beside the store's entries, <store>/recipe-sources/<digest>.json, or under the
// partner's namespace (<store>/tenants/<partner>/…) for a partner's build, so that only that
// partner's builds read it back. Keyed by the digest rather than kept in the plan: the plan
// travels in every workflow's input (the product's and each variant's), and a recipe may be
// megabytes; a night whose recipe did not change reuses the same file. Outside objects/, so
// the store's gc and audit leave it alone; it grows by one small file per distinct recipe.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Owner } from '../plan/plan';
import { MAX_SET_BYTES, RecipeSources, recordSources } from '../publish/recipe-sources';
import { StepStore } from './store';

export const RECIPE_SOURCES_DIR = 'recipe-sources';
const DIGEST = /^[0-9a-f]{64}$/;
/** JSON escaping can double a text, at most (control characters aside, which recipes do not hold). */
const MAX_FILE_BYTES = 2 * MAX_SET_BYTES + 1024 * 1024;

function fileFor(storeDir: string, owner: Owner | undefined, digest: string): string {
  if (!DIGEST.test(digest)) throw new Error(`recipe digest must be 64 lower-case hex digits, got ${JSON.stringify(digest.slice(0, 80))}`);
  const shared = new StepStore(path.resolve(storeDir));
  const root = owner?.kind === 'partner' ? shared.forTenant(owner.name).root : shared.root;
  return path.join(root, RECIPE_SOURCES_DIR, `${digest}.json`);
}

/** Records the set (once per digest: a set already there is kept). */
export function saveRecipeSources(storeDir: string, owner: Owner | undefined, sources: RecipeSources): string {
  const set = RecipeSources.parse(sources);
  const file = fileFor(storeDir, owner, set.digest);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(set));
  fs.renameSync(tmp, file);
  return file;
}

export type LoadedSources = { sources: RecipeSources } | { missing: true } | { refused: string };

/** The recorded set of a digest in the owner's scope; a set that fails its checks is refused whole. */
export function loadRecipeSources(storeDir: string, owner: Owner | undefined, digest: string): LoadedSources {
  if (!DIGEST.test(digest)) return { refused: 'not a recipe digest' };
  const file = fileFor(storeDir, owner, digest);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return { missing: true };
  }
  if (!st.isFile()) return { refused: `${path.basename(file)} is not a regular file` };
  if (st.size > MAX_FILE_BYTES) return { refused: `${path.basename(file)} is ${st.size} bytes, over ${MAX_FILE_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return { refused: `not JSON: ${(e as Error).message}` };
  }
  const parsed = RecipeSources.safeParse(json);
  if (!parsed.success) return { refused: parsed.error.issues.map((i) => i.message).join('; ') };
  if (parsed.data.digest !== digest) return { refused: `recorded for digest ${parsed.data.digest}, not ${digest}` };
  return { sources: parsed.data };
}

/** Records what a compilation read, for the plan of the product declared in `declFile` (the compiler's naming). */
export function recordCompiled(storeDir: string, owner: Owner | undefined, files: readonly { path: string; source: { text: string } }[], declFile: string, digest: string): string {
  return saveRecipeSources(storeDir, owner, recordSources(files.map((f) => ({ path: f.path, text: f.source.text })), path.posix.dirname(declFile), digest));
}
