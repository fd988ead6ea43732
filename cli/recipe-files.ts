// The filesystem side of the recipe compiler: reading recipes (and the directories given
// on the command line) for check, plan and fmt.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { SourceHost } from '../dsl/compile';
import { EXIT, UserError } from './command';

export const RECIPE_EXTENSION = '.sborka';

/** Reads paths relative to `cwd`; the compiler sees them as written. */
export function fileHost(cwd: string): SourceHost {
  return {
    read(path) {
      try {
        return readFileSync(isAbsolute(path) ? path : join(cwd, path), 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}

/** Files as given, with each directory replaced by the recipes under it (sorted). */
export function expandRecipeArgs(args: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  for (const a of args) {
    const abs = resolve(cwd, a);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      out.push(a); // the compiler reports it as unreadable
      continue;
    }
    if (!isDir) {
      out.push(a);
      continue;
    }
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith(RECIPE_EXTENSION)) found.push(p);
      }
    };
    walk(abs);
    if (found.length === 0) throw new UserError(`no ${RECIPE_EXTENSION} files under ${a}`, EXIT.usage);
    out.push(...found.sort().map((p) => relative(cwd, p)));
  }
  return out;
}
