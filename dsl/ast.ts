// The recipe AST. Every construct is a statement: a keyword, its arguments and maybe a
// block of statements. The grammar fixes each statement's shape; the checker reads it.
import type { Span } from './source';

export type Arg =
  | { kind: 'name'; text: string; span: Span }
  | { kind: 'string'; text: string; value: string; span: Span }
  | { kind: 'int'; text: string; value: number; span: Span }
  | { kind: 'size'; text: string; value: number; span: Span }
  | { kind: 'duration'; text: string; value: number; span: Span }
  | { kind: 'ref'; text: string; span: Span }
  | { kind: 'arrow'; text: string; span: Span }
  | { kind: 'list'; items: Arg[]; span: Span };

export interface Stmt {
  keyword: string;
  keywordSpan: Span;
  args: Arg[];
  body?: Stmt[];
  /** Span of the whole statement, block included. */
  span: Span;
  /** Offset of the closing brace of its block, for comments placed just before it. */
  bodyEnd?: number;
  /** Line of the statement's last character (its closing brace, for a block). */
  endLine: number;
}

export interface Comment {
  text: string;
  span: Span;
}

export interface RecipeAst {
  file: string;
  statements: Stmt[];
  comments: Comment[];
}

/** The argument's text as written (names) or meant (strings). */
export function argText(a: Arg | undefined): string | undefined {
  if (!a) return undefined;
  switch (a.kind) {
    case 'string':
      return a.value;
    case 'list':
      return undefined;
    default:
      return a.text;
  }
}

/** Flattens comma lists: `arch a, b` gives [a, b]. */
export function flatArgs(args: readonly Arg[]): Arg[] {
  const out: Arg[] = [];
  for (const a of args) {
    if (a.kind !== 'list') out.push(a);
    else for (const i of a.items) out.push(i);
  }
  return out;
}
