// The filesystem side of the recipe compiler: reading recipes (and the directories given
// on the command line) for check, plan and fmt.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { compile, type Compilation, type SourceHost } from '../dsl/compile';
import { renderDiagnostics } from '../dsl/diagnostics';
import { EXIT, UserError, type CliIo } from './command';

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

/** Compiles one recipe (and its imports), printing its diagnostics; errors end the command. */
export function compileRecipe(file: string, io: CliIo): Compilation {
  const c = compile([file], fileHost(io.cwd));
  if (c.diagnostics.length > 0) io.stderr.write(renderDiagnostics(c.diagnostics, c.sources));
  if (c.errorCount > 0) throw new UserError(`${file}: ${c.errorCount} error${c.errorCount === 1 ? '' : 's'}; nothing was planned`);
  return c;
}

/**
 * The products a command acts on: the one named with --product, else those the file itself
 * declares (not its imports). `one` demands exactly one.
 */
export function chooseProducts(c: Compilation, file: string, named: string | undefined, how: 'one' | 'all'): string[] {
  if (named) {
    if (!c.variants.has(named)) {
      throw new UserError(`\`${named}\` is not a buildable product of ${file}; these are: ${c.buildable.join(', ') || '(none)'}`, EXIT.usage);
    }
    return [named];
  }
  const declaredHere = c.buildable.filter((n) => c.decls.products.get(n)?.file === c.files[c.files.length - 1]?.path);
  if (declaredHere.length === 0) throw new UserError(`${file} declares no buildable product (one with an \`output\`)`, EXIT.usage);
  if (how === 'one' && declaredHere.length > 1) {
    throw new UserError(`${file} declares ${declaredHere.length} products: choose one with --product (${declaredHere.join(', ')})`, EXIT.usage);
  }
  return declaredHere;
}
