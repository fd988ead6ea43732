// `sborka fmt`: the canonical layout of a recipe. Two-space indents, one statement per
// line, one blank line between declarations (a run of imports stays together: the property
// table says which statements do), blank lines inside blocks and around comment
// blocks kept (at most one), comments kept where they were (before a statement, or at the
// end of its line).
// Only files that parse cleanly are formatted; fmt(fmt(x)) = fmt(x).
import type { Arg, Comment, RecipeAst, Stmt } from './ast';
import type { Diagnostic } from './diagnostics';
import { parseRecipe } from './parse';
import { keptTogether } from './properties';

const WIDTH = 100;

export interface FormatResult {
  /** The formatted text, or undefined when the file has syntax errors. */
  text?: string;
  diagnostics: Diagnostic[];
}

export function formatRecipe(path: string, text: string): FormatResult {
  const { ast, sink } = parseRecipe(path, text);
  return formatParsed(ast, sink.items);
}

/** Formats a file already parsed (with the diagnostics its parse gave), e.g. one compile() read. */
export function formatParsed(ast: RecipeAst, diagnostics: readonly Diagnostic[]): FormatResult {
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics: [...diagnostics] };
  const printer = new Printer(ast.comments);
  return { text: printer.file(ast.statements), diagnostics: [...diagnostics] };
}

export function quoteString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}

function argString(a: Arg): string {
  switch (a.kind) {
    case 'string':
      return quoteString(a.value);
    case 'ref':
      return `@${a.text}`;
    case 'list':
      return a.items.map(argString).join(', ');
    default:
      return a.text;
  }
}

class Printer {
  private readonly lines: string[] = [];
  private next = 0;

  constructor(private readonly comments: Comment[]) {}

  file(stmts: Stmt[]): string {
    stmts.forEach((s, i) => {
      const prev = stmts[i - 1];
      if (prev && !(prev.keyword === s.keyword && keptTogether(s.keyword) && !this.blankBetween(prev, s))) this.lines.push('');
      this.statement(s, '', stmts[i + 1]?.span.offset);
    });
    this.flushComments(Infinity, '', stmts.length > 0);
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }

  /** Was there an empty line between two statements (or between the first one's end and the second's leading comments)? */
  private blankBetween(prev: Stmt, s: Stmt): boolean {
    const endLine = prev.endLine;
    let startLine = s.span.line;
    for (const c of this.comments) {
      if (c.span.offset > prev.span.offset + prev.span.length && c.span.offset < s.span.offset && c.span.line > endLine) {
        startLine = Math.min(startLine, c.span.line);
      }
    }
    return startLine - endLine > 1;
  }

  /**
   * Comments before an offset, each on its own line. A blank line between two comments, or
   * between the last one and the statement on `nextLine`, stays (one at most): a file's
   * header or a section's heading is not glued to what follows it.
   */
  private flushComments(before: number, indent: string, blankBeforeFirst = false, nextLine?: number): void {
    let prevLine: number | undefined;
    while (this.next < this.comments.length && (this.comments[this.next] as Comment).span.offset < before) {
      const c = this.comments[this.next] as Comment;
      if (prevLine === undefined ? blankBeforeFirst : c.span.line - prevLine > 1) this.lines.push('');
      this.lines.push(`${indent}${c.text.trimEnd()}`);
      prevLine = c.span.line;
      this.next++;
    }
    if (prevLine !== undefined && nextLine !== undefined && nextLine - prevLine > 1) this.lines.push('');
  }

  private trailing(line: number, endOffset: number, nextStart = Infinity): void {
    const c = this.comments[this.next];
    // A comment after the next statement on the same line belongs to that one.
    if (c && c.span.offset >= endOffset && c.span.offset < nextStart && c.span.line === line) {
      this.lines[this.lines.length - 1] += `  ${c.text.trimEnd()}`;
      this.next++;
    }
  }

  private statement(s: Stmt, indent: string, nextStart = Infinity): void {
    this.flushComments(s.span.offset, indent, false, s.span.line);
    const head = this.head(s, indent);
    if (!s.body) {
      this.lines.push(...head);
      this.trailing(s.endLine, s.span.offset + s.span.length, nextStart);
      return;
    }
    const firstLine = head.pop() ?? '';
    this.lines.push(...head);
    if (s.body.length === 0 && !this.commentsBefore(s.bodyEnd ?? s.span.offset + s.span.length)) {
      this.lines.push(`${firstLine} {}`);
      this.trailing(s.endLine, s.span.offset + s.span.length);
      return;
    }
    this.lines.push(`${firstLine} {`);
    // A comment on the line of the opening brace stays there.
    const open = this.comments[this.next];
    if (open && open.span.line === s.keywordSpan.line && (s.body[0] === undefined || open.span.offset < s.body[0].span.offset)) {
      this.trailing(open.span.line, 0);
    }
    const inner = `${indent}  `;
    s.body.forEach((b, i) => {
      const prev = s.body?.[i - 1];
      if (prev && this.blankBetween(prev, b)) this.lines.push('');
      this.statement(b, inner, s.body?.[i + 1]?.span.offset);
    });
    this.flushComments(s.bodyEnd ?? s.span.offset + s.span.length, inner);
    this.lines.push(`${indent}}`);
    this.trailing(s.endLine, s.span.offset + s.span.length);
  }

  private commentsBefore(offset: number): boolean {
    const c = this.comments[this.next];
    return !!c && c.span.offset < offset;
  }

  /** The statement's keyword and arguments, wrapped after commas past the width. */
  private head(s: Stmt, indent: string): string[] {
    const parts = [s.keyword, ...s.args.map(argString)].filter((p) => p.length > 0);
    const one = `${indent}${parts.join(' ')}`;
    if (one.length <= WIDTH || !s.args.some((a) => a.kind === 'list')) return [one];
    const lines: string[] = [];
    let cur = `${indent}${s.keyword}`;
    const cont = ' '.repeat(indent.length + s.keyword.length + 1);
    for (const a of s.args) {
      if (a.kind !== 'list') {
        cur += ` ${argString(a)}`;
        continue;
      }
      a.items.forEach((item, i) => {
        const piece = argString(item) + (i < a.items.length - 1 ? ',' : '');
        if (cur.trim().length > 0 && cur.length + 1 + piece.length > WIDTH && i > 0) {
          lines.push(cur);
          cur = `${cont}${piece}`;
        } else {
          cur += ` ${piece}`;
        }
      });
    }
    lines.push(cur);
    return lines;
  }
}
