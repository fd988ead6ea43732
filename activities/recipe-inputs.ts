// The worker's own fence around recipe files (defence in depth behind the plan's schema):
// a step's recipe-relative path is joined to the step's recipeDir (the project root when it
// has none), symlinks are resolved, and the real path must stay inside that directory and
// outside the state directory (signing keys, the API database, the store's internals),
// except that a tenant's own recipe directory lies under <stateDir>/recipes.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../config/config';
import { relativePathProblem } from '../plan/schemas';
import { badInput } from './failures';

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : `${dir}${path.sep}`);

async function real(p: string): Promise<string | undefined> {
  return fs.realpath(p).catch(() => undefined);
}

/** The real host path of recipe file `rel` of a step; throws BadInput naming the field when it escapes. */
export async function recipeInput(stepId: string, field: string, rel: string, recipeDir: string | undefined, config: Pick<Config, 'projectRoot' | 'stateDir' | 'storeDir'>): Promise<string> {
  const refuse = (why: string) => badInput(`step "${stepId}": params.${field}: ${JSON.stringify(rel)} ${why}`);
  const problem = relativePathProblem(rel);
  if (problem) throw refuse(problem);
  const dir = recipeDir ?? config.projectRoot;
  if (!path.isAbsolute(dir)) throw refuse(`has a recipe directory ${dir} that is not absolute`);
  const realDir = await real(dir);
  if (!realDir) throw refuse(`cannot be read: the recipe directory ${dir} does not exist`);
  const state = (await real(config.stateDir)) ?? path.resolve(config.stateDir);
  // Strictly below recipes/: one tenant's directory, never all of them.
  const tenantDir = realDir.startsWith(path.join(state, 'recipes') + path.sep);
  if (inside(realDir, state) && !tenantDir) throw refuse(`has a recipe directory inside the state directory`);
  const full = path.join(realDir, rel);
  const resolved = await real(full);
  if (!resolved) throw refuse(`does not exist in the recipe directory ${dir}`);
  if (!inside(resolved, realDir)) throw refuse(`leads outside the recipe directory ${dir} (to ${resolved})`);
  if (inside(resolved, state) && !tenantDir) throw refuse('leads into the state directory');
  // Other tenants' outputs live in the store, which may sit outside the state directory.
  const store = (await real(config.storeDir)) ?? path.resolve(config.storeDir);
  if (inside(resolved, store)) throw refuse('leads into the step store');
  for (const [what, d] of [['state directory', state], ['step store', store]]) if (inside(d!, resolved)) throw refuse(`holds the ${what}`);
  return resolved;
}

/**
 * Refuses what a copied overlay could smuggle in: hard links (a second name of some other
 * file, possibly outside the recipe), device files, FIFOs and sockets. Symlinks are fine:
 * they are copied as links and resolve inside the image, never on the host.
 */
export async function checkOverlayTree(stepId: string, field: string, src: string): Promise<void> {
  const visit = async (p: string): Promise<void> => {
    const st = await fs.lstat(p);
    const at = () => (p === src ? '' : ` (${path.relative(src, p)})`);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      for (const name of await fs.readdir(p)) await visit(path.join(p, name));
      return;
    }
    if (!st.isFile()) throw badInput(`step "${stepId}": params.${field}: the overlay holds a device file, FIFO or socket${at()}: refused`);
    if (st.nlink > 1) throw badInput(`step "${stepId}": params.${field}: the overlay holds a hard link${at()} (${st.nlink} names for one file): refused, copy the file instead`);
  };
  await visit(src);
}
