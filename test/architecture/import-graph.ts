// The import graph of the source tree and the two checks the architecture test makes on it.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Lowest first: a folder may import its own layer and those below it, never above. */
export const LAYERS: readonly (readonly string[])[] = [
  ['plan', 'config'],
  ['publish', 'licenses'],
  ['dsl'],
  ['workflows', 'activities'],
  ['service'],
  ['cli', 'bench', 'scripts'],
];

export function layerOf(file: string): number | undefined {
  const top = file.split('/')[0] ?? '';
  const i = LAYERS.findIndex((folders) => folders.includes(top));
  return i < 0 ? undefined : i;
}

const SOURCE = /\.ts$/;
const SKIP = new Set(['node_modules', 'build', 'test', '.state', '.tools', '.git']);

function sourceFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name) && !entry.name.startsWith('.')) out.push(...sourceFiles(root, rel));
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') && dir !== '') out.push(rel);
  }
  return out.sort();
}

/** file → the tree's files it imports (relative specifiers resolved as TypeScript does). */
export function importGraph(root: string, importsOf: (absFile: string) => string[]): Map<string, Set<string>> {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const deps = new Set<string>();
    for (const spec of importsOf(path.join(root, file))) {
      if (!spec.startsWith('.')) continue;
      const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const hit = [`${base}.ts`, `${base}/index.ts`, base].find((c) => known.has(c));
      if (hit && hit !== file) deps.add(hit);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Every strongly connected set of files (Tarjan), each sorted, as a cycle. */
export function findCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return cycles.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
}

export function upwardImports(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const name = (f: string): string => `${f} (layer ${layerOf(f)}: ${f.split('/')[0]})`;
  const out: string[] = [];
  for (const [file, deps] of graph) {
    const own = layerOf(file);
    for (const dep of deps) {
      const theirs = layerOf(dep);
      if (own !== undefined && theirs !== undefined && theirs > own) out.push(`${name(file)} imports ${name(dep)}`);
    }
  }
  return out.sort();
}
