// Reads recipe files and everything they import, parsing each once. File access goes
// through a host, so the compiler itself stays pure (the CLI passes the filesystem).
import { posix } from 'node:path';
import type { RecipeAst, Stmt } from './ast';
import { type Diagnostic, DiagnosticSink } from './diagnostics';
import { parseRecipe } from './parse';
import type { SourceFile } from './source';

export interface SourceHost {
  /** The file's text, or undefined when it cannot be read. */
  read(path: string): string | undefined;
  /**
   * A store of parses by path and text: a host that compiles the same files again and again
   * (a watch, the fuzz test) parses each unchanged file once. Entries are never mutated.
   */
  parses?: Map<string, CachedParse>;
}

/** A parse kept for reuse: its text (the key's check), result and the diagnostics it gave. */
export interface CachedParse {
  text: string;
  source: SourceFile;
  ast: RecipeAst;
  diagnostics: readonly Diagnostic[];
}

function parseThrough(host: SourceHost, path: string, text: string, sink: DiagnosticSink): { source: SourceFile; ast: RecipeAst } {
  const cache = host.parses;
  if (!cache) return parseRecipe(path, text, sink);
  let hit = cache.get(path);
  if (!hit || hit.text !== text) {
    const own = new DiagnosticSink();
    const { source, ast } = parseRecipe(path, text, own);
    hit = { text, source, ast, diagnostics: own.items };
    cache.set(path, hit);
  }
  for (const d of hit.diagnostics) sink.add(d);
  return hit;
}

export interface LoadedFile {
  path: string;
  source: SourceFile;
  ast: RecipeAst;
}

/** Loads entries and their imports depth-first; files come back in a stable order. */
export function loadRecipes(entries: readonly string[], host: SourceHost, sink: DiagnosticSink): LoadedFile[] {
  const loaded = new Map<string, LoadedFile>();
  const order: LoadedFile[] = [];
  const stack: string[] = [];

  const visit = (path: string, from?: { stmt: Stmt; file: string }): void => {
    if (stack.includes(path)) {
      const cycle = [...stack.slice(stack.indexOf(path)), path].join(' -> ');
      if (from) sink.error('import-cycle', `import cycle: ${cycle}`, from.stmt.args[0]?.span ?? from.stmt.span, 'move what both files need into a third file that both import');
      return;
    }
    if (loaded.has(path)) return;
    let text: string | undefined;
    try {
      text = host.read(path);
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      if (from) sink.error('import-not-found', `cannot read imported file \`${path}\``, from.stmt.args[0]?.span ?? from.stmt.span, 'import paths are relative to the importing file');
      else sink.error('file-not-found', `cannot read \`${path}\``, { file: path, offset: 0, length: 0, line: 1, col: 1 });
      return;
    }
    const { source, ast } = parseThrough(host, path, text, sink);
    const file: LoadedFile = { path, source, ast };
    loaded.set(path, file);
    stack.push(path);
    for (const stmt of ast.statements) {
      if (stmt.keyword !== 'import') continue;
      const spec = stmt.args[0];
      if (!spec || spec.kind !== 'string') continue;
      if (spec.value.startsWith('/')) {
        sink.error('absolute-import', `import \`${spec.value}\` is absolute`, spec.span, 'import paths are relative to the importing file');
        continue;
      }
      visit(posix.normalize(posix.join(posix.dirname(path), spec.value)), { stmt, file: path });
    }
    stack.pop();
    order.push(file);
  };

  for (const e of entries) visit(posix.normalize(e));
  return order;
}
