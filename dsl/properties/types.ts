// The shape of one row of the recipe language's property table (see index.ts): every
// statement is declared once, with where it may stand, how it merges through inheritance,
// the toolchains it is for, a line of documentation and the code that applies it.
import type { Stmt } from '../ast';
import type { ToolchainName } from '../../plan/arches';
import type { DiagnosticSink } from '../diagnostics';
import type { At } from '../draft';
import type { Span } from '../source';
import type { Problem } from '../values';

/**
 * Where a statement stands: at the top of a file, in a product's (or variant's: they share
 * one grammar) body, or in the block of another statement.
 */
export type Block = 'file' | 'product' | 'packages' | 'repo' | 'settings' | 'user' | 'services' | 'output' | 'test' | 'license-policy';

/** How a statement merges with the layers below it (base, then `on` blocks, then variant). */
export const MERGES = {
  scalar: 'scalar: once per block; a later layer overrides',
  list: 'list: appends, without repeats',
  exclude: 'removes from the list; keeps it out',
  append: 'appends, in order',
  'replace-by-name': 'by name: a later one replaces',
  'merge-by-name': 'by name: lists append, the rest overrides',
  'by-format': 'by format: options override one by one',
  'by-kind': '`boot` replaces, `run` appends, `reproducible` stays on',
  toggle: 'moves a unit between the enable and disable lists',
  block: 'statement by statement, as each one merges',
  'per-arch': 'applied after the other layers, for the named arches',
  declaration: 'declared once in all files read',
  rule: 'one rule per license',
  read: 'read once',
} as const;
export type Merge = keyof typeof MERGES;

/** What the statements' apply functions may do besides changing their target. */
export interface Ctx {
  readonly sink: DiagnosticSink;
  /** Package lists by name (for `@LIST` in `packages`). */
  readonly lists: ReadonlyMap<string, { body: Stmt[] }>;
  /** License policies by name (for `license policy NAME`). */
  readonly policies: ReadonlyMap<string, unknown>;
  err(code: string, message: string, at: Span, hint?: string): void;
  /** Reports the problem under `code`; true when there was one. */
  problem(code: string, p: Problem | undefined, at: Span): boolean;
  /** Checks a template's braces and variables; false when it has problems. */
  template(v: At<string>, known?: readonly string[]): boolean;
  /** A path written in `file`, as a path of the host (joined to the file's directory). */
  fromFile(file: string, rel: string): string;
}

/**
 * What follows a statement's keyword, as the parser reads it (parser.ts builds each block's
 * statement rule from its rows' forms): a value token, a comma list (`NAMES`: names; `WORDS`:
 * names or strings), another keyword (`{ kw }`), a block of statements (`{ body }`), an
 * optional part, a part repeated at least once, or one of several sequences.
 */
export type Form =
  | 'NAME'
  | 'STRING'
  | 'INT'
  | 'SIZE'
  | 'DURATION'
  | 'REF'
  | 'ARROW'
  | 'NAMES'
  | 'WORDS'
  | { kw: string }
  | { body: Block }
  | { opt: readonly Form[] }
  | { some: readonly Form[] }
  | { or: readonly (readonly Form[])[] };

export interface Property<T> {
  /** The statement's keyword; '' for a bare package name in `packages`. */
  keyword: string;
  block: Block;
  /** The values after the keyword (for a bare package, instead of one). */
  form: readonly Form[];
  /**
   * A statement that is a parser rule of its own, by name (the declarations, and the waiver,
   * which stands in two blocks): the rule is made once, from the first row that names it.
   */
  rule?: string;
  /** Product properties only: may it be set per architecture, in `on ARCH { }`? */
  inOn?: boolean;
  /** Arity and value kinds, as the reference writes them: `arch ARCH, ...`. */
  syntax: string;
  merge: Merge;
  /** The toolchains the statement does something on. */
  toolchains: readonly ToolchainName[];
  /** For a block's option: the forms of the enclosing statement that take it (`test boot`). */
  only?: readonly string[];
  /** Consecutive ones are kept together by `sborka fmt` (no blank line between them). */
  tight?: boolean;
  doc: string;
  /** Applies the statement onto its block's target; absent where another module reads it (named in `doc`'s row comment). */
  apply?: (ctx: Ctx, target: T, s: Stmt) => void;
}

/** A row whatever its target: for the checker, the formatter and the reference table. */
export type AnyProperty = Property<never>;

export const BOTH: readonly ToolchainName[] = ['alt', 'debian'];
