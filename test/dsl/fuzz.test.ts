// Deterministic fuzzing of the recipe compiler: 5,000+ mutations of the recipes in products/
// (character level, token level, long lists, deep nesting, huge lines and strings) through
// check, plan and fmt in-process. Whatever the input: nothing throws, every diagnostic points
// inside its file, and each input stays within a generous time bound.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../dsl/compile';
import type { Diagnostic } from '../../dsl/diagnostics';
import { formatRecipe } from '../../dsl/format';
import { planProduct } from '../../dsl/planner';
import { SourceFile } from '../../dsl/source';
import { KEYWORDS } from '../../dsl/tokens';
import { productFiles, ROOT } from './helpers';

/** mulberry32: a small seeded PRNG, so that every run tries the same inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = ReturnType<typeof prng>;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)] as T;

const ORIGINALS = new Map(productFiles().map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
const ENTRIES = [...ORIGINALS.keys()];
const WORDS = [...KEYWORDS, 'x86_64', 'aarch64', 'p11', '20G', '15m', '42', '@list', '->', '"s"', '{', '}', ',', '#c'];
const CHARS = ['\0', '\n', '\r', '\t', ' ', '"', '\\', '{', '}', ',', '#', '@', '=', ';', "'", 'ж', 'é', '😀', '\ud800', '\uffff', '\u00a0', '\ufeff', '\u202e'];

function randomChars(r: Rand, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += r() < 0.5 ? pick(r, CHARS) : String.fromCharCode(32 + int(r, 95));
  return s;
}

/** Words and the gaps between them, so that token mutations keep the rest of the text. */
const tokens = (text: string): string[] => text.match(/\s+|"(?:[^"\\\n]|\\.)*"?|[{},]|[^\s{},"]+/g) ?? [];
const at = (text: string, r: Rand): number => int(r, text.length + 1);
const lineStart = (text: string, r: Rand): number => {
  const i = text.lastIndexOf('\n', at(text, r));
  return i < 0 ? 0 : i + 1;
};
const insert = (text: string, i: number, s: string): string => text.slice(0, i) + s + text.slice(i);
const many = (n: number, item: (i: number) => string, sep: string): string => Array.from({ length: n }, (_, i) => item(i)).join(sep);

type Mutator = (text: string, r: Rand) => string;

const CHARACTER: Record<string, Mutator> = {
  'delete chars': (t, r) => {
    const i = at(t, r);
    return t.slice(0, i) + t.slice(i + 1 + int(r, 20));
  },
  'insert chars': (t, r) => insert(t, at(t, r), randomChars(r, 1 + int(r, 8))),
  'replace a char': (t, r) => {
    const i = at(t, r);
    return t.slice(0, i) + randomChars(r, 1) + t.slice(i + 1);
  },
  'duplicate a slice': (t, r) => {
    const i = at(t, r);
    return insert(t, at(t, r), t.slice(i, i + int(r, 200)));
  },
  'cut the file': (t, r) => t.slice(0, at(t, r)),
};

const TOKEN: Record<string, Mutator> = {
  'delete a token': (t, r) => {
    const ts = tokens(t);
    ts.splice(int(r, ts.length), 1);
    return ts.join('');
  },
  'swap two tokens': (t, r) => {
    const ts = tokens(t);
    const i = int(r, ts.length);
    const j = int(r, ts.length);
    [ts[i], ts[j]] = [ts[j] as string, ts[i] as string];
    return ts.join('');
  },
  'duplicate a token': (t, r) => {
    const ts = tokens(t);
    const i = int(r, ts.length);
    ts.splice(i, 0, ts[i] ?? '', ' ');
    return ts.join('');
  },
  'replace a token by a keyword': (t, r) => {
    const ts = tokens(t);
    ts[int(r, ts.length)] = pick(r, WORDS);
    return ts.join('');
  },
  'insert a keyword': (t, r) => insert(t, lineStart(t, r), `${pick(r, WORDS)} `),
};

const BIG: Record<string, Mutator> = {
  'a list of 10^4 items': (t, r) => insert(t, lineStart(t, r), `${pick(r, ['arch', 'kernel', 'allow', 'groups', 'enable', 'exclude', 'components'])} ${many(10000, (i) => (r() < 0.9 ? pick(r, ['x86_64', 'aarch64']) : `n${i}`), ', ')}\n`),
  'a packages block of 10^4 lines': (t, r) => insert(t, lineStart(t, r), `packages {\n${many(10000, (i) => `  pkg-${i}`, '\n')}\n}\n`),
  'deep braces': (t, r) => {
    const n = 1 + int(r, 200);
    return insert(t, lineStart(t, r), '{'.repeat(n) + (r() < 0.5 ? '}'.repeat(n) : ''));
  },
  'deep on blocks': (t, r) => {
    const n = 1 + int(r, 200);
    return insert(t, lineStart(t, r), `${'on x86_64 {\n'.repeat(n)}kernel un-def\n${'}\n'.repeat(n)}`);
  },
  'a megabyte line': (t, r) => insert(t, lineStart(t, r), `${pick(r, ['# ', 'title ', 'arch ', ''])}${'a'.repeat(1 << 20)}\n`),
  'a huge string': (t, r) => insert(t, lineStart(t, r), `title "${'x\\n'.repeat(1 << 18)}${r() < 0.5 ? '"' : ''}\n`),
  'many broken statements': (t, r) => insert(t, lineStart(t, r), many(3000, () => pick(r, ['arch', 'title 1', '"s"', '= 1', '}', 'on {']), '\n')),
};

/** A diagnostic points inside its file: a real line, a column at most one past its end. */
function positioned(d: Diagnostic, sources: ReadonlyMap<string, SourceFile>, texts: ReadonlyMap<string, string>): boolean {
  const text = texts.get(d.file);
  const source = sources.get(d.file) ?? (text !== undefined ? new SourceFile(d.file, text) : undefined);
  if (!source) return d.line === 1 && d.col === 1;
  if (d.line < 1 || d.line > source.lineCount || d.col < 1) return false;
  if (d.col > source.lineText(d.line).length + 2) return false; // +2: a `\r` before the newline is not shown
  return d.offset + d.length <= source.text.length;
}

interface Failure {
  mutator: string;
  seed: number;
  problem: string;
}

/** Runs one mutant through check, plan and fmt; returns what went wrong, if anything. */
function exercise(entry: string, text: string): string | undefined {
  // Generous: a second per 100 KB (at least one), five times over for a loaded machine.
  const bound = 5 * Math.max(1000, (text.length / 100_000) * 1000);
  const t0 = performance.now();
  const texts = new Map([...ORIGINALS, [entry, text]]);
  try {
    const c = compile([entry], { read: (p) => texts.get(p) });
    const bad = c.diagnostics.find((d) => !positioned(d, c.sources, texts));
    if (bad) return `check: diagnostic outside the file: ${JSON.stringify(bad)}`;
    if (c.errorCount === 0) for (const p of c.buildable.slice(0, 2)) planProduct(c, p);
    const f = formatRecipe(entry, text);
    const badF = f.diagnostics.find((d) => !positioned(d, new Map(), texts));
    if (badF) return `fmt: diagnostic outside the file: ${JSON.stringify(badF)}`;
  } catch (e) {
    return `threw: ${(e as Error).stack ?? String(e)}`;
  }
  const ms = performance.now() - t0;
  return ms > bound ? `took ${Math.round(ms)} ms for ${text.length} chars (bound ${bound} ms)` : undefined;
}

function fuzz(family: Record<string, Mutator>, count: number, seed0: number, maxMutations: number): Failure[] {
  const names = Object.keys(family);
  const failures: Failure[] = [];
  for (let k = 0; k < count; k++) {
    const seed = seed0 + k;
    const r = prng(seed);
    const entry = pick(r, ENTRIES);
    const mutator = names[k % names.length] as string;
    let text = ORIGINALS.get(entry) as string;
    // One to a few mutations stacked: the first from the family in turn, the rest random.
    const n = 1 + int(r, maxMutations);
    for (let m = 0; m < n; m++) text = (family[m === 0 ? mutator : pick(r, names)] as Mutator)(text, r);
    const problem = exercise(entry, text);
    if (problem) failures.push({ mutator, seed, problem: problem.slice(0, 2000) });
    if (failures.length >= 5) break;
  }
  return failures;
}

describe('fuzzing the compiler with mutated products/ recipes', () => {
  it('character-level mutations (2,500)', () => {
    expect(fuzz(CHARACTER, 2500, 1_000_000, 4)).toEqual([]);
  });

  it('token-level mutations (2,500)', () => {
    expect(fuzz(TOKEN, 2500, 2_000_000, 4)).toEqual([]);
  });

  it('big inputs: long lists, deep nesting, megabyte lines, huge strings (70)', () => {
    expect(fuzz(BIG, 70, 3_000_000, 1)).toEqual([]);
  });
});
