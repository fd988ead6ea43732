// Deterministic fuzzing of the recipe compiler: 5,000+ mutations of the recipes in products/
// (character level, token level, long lists, deep nesting, huge lines and strings) through
// check, plan and fmt in-process. Whatever the input: nothing throws, every diagnostic points
// inside its file, and each input stays within a generous time bound.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type SourceHost } from '../../dsl/compile';
import type { Diagnostic } from '../../dsl/diagnostics';
import { formatParsed, formatRecipe } from '../../dsl/format';
import { planProduct } from '../../dsl/planner';
import { SourceFile } from '../../dsl/source';
import { KEYWORDS } from '../../dsl/tokens';
import { cpuMs, productFiles, ROOT } from './helpers';

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

/**
 * The issue's bound is a second per 100 KB. On a loaded 2-core CI machine a test must not
 * fail on a neighbour's burst, so each input gets ten times that, at least 5 s: this catches
 * a hang or a blowup by orders of magnitude. A super-linear cost that stays within it is what
 * the complexity test below looks for, by ratio.
 */
const boundMs = (chars: number): number => Math.max(5000, 10 * (chars / 100_000) * 1000);

/**
 * Parses of the unmutated files, kept across mutants through the host: each mutant reparses
 * only its own entry (whose text differs), not the imports every product shares.
 */
const parses: NonNullable<SourceHost['parses']> = new Map();

/** Runs one mutant through check, plan (when it checks clean) and fmt; returns what went wrong, if anything. */
function exercise(entry: string, text: string): string | undefined {
  const bound = boundMs(text.length);
  const t0 = performance.now();
  const texts = new Map([...ORIGINALS, [entry, text]]);
  try {
    const c = compile([entry], { read: (p) => texts.get(p), parses });
    const bad = c.diagnostics.find((d) => !positioned(d, c.sources, texts));
    if (bad) return `check: diagnostic outside the file: ${JSON.stringify(bad)}`;
    if (c.errorCount === 0) for (const p of c.buildable.slice(0, 2)) planProduct(c, p);
    // fmt prints the parse compile() made of the entry (the same parseRecipe, not run twice).
    const parsed = parses.get(entry);
    const f = parsed?.text === text ? formatParsed(parsed.ast, parsed.diagnostics) : formatRecipe(entry, text);
    const badF = f.diagnostics.find((d) => !positioned(d, c.sources, texts));
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

// Super-linear costs, found by ratio rather than by a clock: the same shape at size n and 8n
// through check, plan and fmt. Linear work gives a ratio near 8, quadratic near 64; the
// limit of 45 leaves room for a loaded machine's noise (garbage collection counts in the
// process's CPU time), and CPU time (the best of a few runs) is what counts, not wall time.
const HEAD = 'product p {\n  branch p11\n  profile distro/regular-jeos-systemd\n';
const csv = (n: number, item: (i: number) => string): string => many(n, item, ', ');
const SHAPES: Record<string, (n: number) => string> = {
  'an arch list of distinct unknown arches': (n) => `${HEAD}  arch x86_64, ${csv(n, (i) => `a${i}`)}\n  output iso\n}\n`,
  'a packages block and an exclude list': (n) => `${HEAD}  arch x86_64\n  packages {\n${many(n, (i) => `    pkg-${i}`, '\n')}\n    exclude ${csv(n, (i) => `pkg-${i * 2}`)}\n  }\n  output iso\n}\n`,
  'on blocks nested three deep': (n) => `${HEAD}  arch x86_64, aarch64\n${many(n / 4, (i) => `  on x86_64 {\n    on x86_64 {\n      on x86_64 {\n        packages {\n          p-${i}\n        }\n      }\n    }\n  }`, '\n')}\n  output iso\n}\n`,
  'many products of one base': (n) => `${HEAD}  arch x86_64\n}\n${many(n / 4, (i) => `product q${i} extends p {\n  title "q ${i}"\n  output iso\n}`, '\n')}\n`,
  'a long string line': (n) => `${HEAD}  arch x86_64\n  title "${'t{arch}'.repeat(n)}"\n  output iso\n}\n`,
  'a long comment and a long name': (n) => `# ${'c'.repeat(n * 10)}\n${HEAD}  arch x86_64\n  profile ${'n'.repeat(n * 10)}\n  output iso\n}\n`,
  'many broken statements': (n) => `${HEAD}${many(n, (i) => pick(prng(i), ['arch', 'title 1', '"s"', '= 1', 'on {', 'locale x']), '\n')}\n}\n`,
};

function runShape(text: string): void {
  const c = compile(['c.sborka'], { read: (p) => (p === 'c.sborka' ? text : undefined) });
  if (c.errorCount === 0) for (const p of c.buildable) planProduct(c, p);
  formatRecipe('c.sborka', text);
}

describe('no input shape costs more than linear time', () => {
  const N = 200;
  it.each(Object.keys(SHAPES))('%s: 8x the input, well under 45x the CPU time', (shape) => {
    const make = SHAPES[shape] as (n: number) => string;
    const small = make(N);
    const large = make(8 * N);
    runShape(small); // warm the JIT
    const ratio = cpuMs(() => runShape(large), 3) / Math.max(1, cpuMs(() => runShape(small), 5));
    expect({ shape, ratio: +ratio.toFixed(1), superLinear: ratio >= 45 }).toEqual({ shape, ratio: +ratio.toFixed(1), superLinear: false });
  });
});
