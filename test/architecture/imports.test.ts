// The layer rule of README's architecture section, checked over the source tree: a module
// imports only from its own layer or below, and no two modules import each other, however
// long the way round. Reads the imports with TypeScript's own pre-processor (no type check).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { importGraph, LAYERS, layerOf, findCycles, upwardImports } from './import-graph';

const ROOT = path.resolve(__dirname, '..', '..');

describe('import structure', () => {
  const graph = importGraph(ROOT, (file) => ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName));

  it('reads the whole source tree', () => {
    expect(graph.size).toBeGreaterThan(150);
    for (const folder of LAYERS.flat().filter((f) => f !== 'scripts')) expect([...graph.keys()].some((f) => f.startsWith(`${folder}/`))).toBe(true);
  });

  it('every source file belongs to a layer', () => {
    expect([...graph.keys()].filter((f) => layerOf(f) === undefined)).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('has no upward imports', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('workflows import activities for their types only', () => {
    const bad: string[] = [];
    for (const file of [...graph.keys()].filter((f) => f.startsWith('workflows/'))) {
      const src = ts.createSourceFile(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022);
      for (const st of src.statements) {
        if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
        const spec = st.moduleSpecifier.text;
        if (!spec.startsWith('.') || !path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).startsWith('activities/')) continue;
        const clause = st.importClause;
        const typeOnly = clause?.isTypeOnly || (clause?.namedBindings && ts.isNamedImports(clause.namedBindings) && !clause.name && clause.namedBindings.elements.every((e) => e.isTypeOnly));
        if (!typeOnly) bad.push(`${file} → ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  // The checker must be able to fail: a made-up graph with a cycle and an upward import.
  it('finds a planted cycle and a planted upward import', () => {
    const planted = new Map<string, Set<string>>([
      ['plan/a.ts', new Set(['plan/b.ts', 'service/x.ts'])],
      ['plan/b.ts', new Set(['plan/c.ts'])],
      ['plan/c.ts', new Set(['plan/a.ts'])],
      ['service/x.ts', new Set()],
    ]);
    expect(findCycles(planted)).toEqual([['plan/a.ts', 'plan/b.ts', 'plan/c.ts']]);
    expect(upwardImports(planted)).toEqual(['plan/a.ts (layer 0: plan) imports service/x.ts (layer 4: service)']);
  });
});
