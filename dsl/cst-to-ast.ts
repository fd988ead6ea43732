// CST → AST: reads any statement node as keyword, arguments, block. Tolerates the partial
// nodes that Chevrotain's error recovery leaves behind (missing children, inserted tokens).
import type { CstElement, CstNode, IToken } from 'chevrotain';
import type { Arg, Stmt } from './ast';
import type { DiagnosticSink } from './diagnostics';
import { isBlockRule } from './parser';
import type { SourceFile, Span } from './source';
import { Arrow, Comma, Duration, Integer, keywordType, LCurly, PackageRef, RCurly, Size, StringLit } from './tokens';
import { parseDuration, parseSize } from '../plan/literals';

const EXCLUDE = keywordType('exclude');

const isToken = (e: CstElement): e is IToken => (e as IToken).tokenType !== undefined;

function realToken(t: IToken): boolean {
  return !t.isInsertedInRecovery && Number.isFinite(t.startOffset) && t.image.length > 0;
}

/** Offset of a node's first real token (NaN when recovery made it of inserted tokens only). */
function firstOffset(node: CstNode): number {
  let best = NaN;
  for (const key in node.children) {
    for (const e of node.children[key] as CstElement[]) {
      const o = isToken(e) ? (realToken(e) ? e.startOffset : NaN) : firstOffset(e);
      if (Number.isFinite(o) && !(o >= best)) best = o;
    }
  }
  return best;
}

/** Offset of a declaration: its keyword, a direct child; deeper only after recovery. */
function startOffset(node: CstNode): number {
  let best = NaN;
  for (const key in node.children) {
    const e = (node.children[key] as CstElement[])[0];
    if (e && isToken(e) && realToken(e) && !(e.startOffset >= best)) best = e.startOffset;
  }
  return Number.isFinite(best) ? best : firstOffset(node);
}

/** Does the node hold any real token? (Stops at the first; a block's `{` usually is one.) */
function hasRealToken(node: CstNode): boolean {
  for (const key in node.children) {
    for (const e of node.children[key] as CstElement[]) {
      if (isToken(e) ? realToken(e) : hasRealToken(e)) return true;
    }
  }
  return false;
}

/**
 * Statement nodes of a file or block node, in source order. Chevrotain groups children by
 * label; within one label they are already in source order, so only a node with several
 * labels (the file: imports, products, ...) needs sorting.
 */
function statementNodes(node: CstNode): CstNode[] {
  let out: CstNode[] | undefined;
  let labels = 0;
  for (const key in node.children) {
    const list = node.children[key] as CstElement[];
    if (list.length === 0 || isToken(list[0] as CstElement)) continue;
    labels++;
    out = out ? out.concat(list as CstNode[]) : (list as CstNode[]);
  }
  if (!out) return [];
  if (labels === 1) return out;
  return out
    .map((n) => ({ n, at: startOffset(n) }))
    .filter((x) => Number.isFinite(x.at))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.n);
}

/** A statement's real tokens (its own and its argument rules') and its blocks. */
function collectStatement(n: CstNode, tokens: IToken[], blocks: CstNode[]): void {
  for (const key in n.children) {
    for (const e of n.children[key] as CstElement[]) {
      if (isToken(e)) {
        if (realToken(e)) tokens.push(e);
      } else if (isBlockRule(e.name)) {
        if (hasRealToken(e)) blocks.push(e);
      } else {
        collectStatement(e, tokens, blocks);
      }
    }
  }
}

/**
 * Source order. A statement has a handful of tokens, nearly in order: insertion sort is the
 * fastest there. A list argument comes as two sorted runs (its names, then its commas), where
 * insertion sort is quadratic and the built-in sort merges the runs in linear time.
 */
function sortByOffset(tokens: IToken[]): void {
  if (tokens.length > 32) {
    tokens.sort((a, b) => a.startOffset - b.startOffset);
    return;
  }
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i] as IToken;
    let j = i - 1;
    while (j >= 0 && (tokens[j] as IToken).startOffset > t.startOffset) {
      tokens[j + 1] = tokens[j] as IToken;
      j--;
    }
    tokens[j + 1] = t;
  }
}

export class AstBuilder {
  constructor(private readonly src: SourceFile, private readonly sink: DiagnosticSink) {}

  private tokenSpan(t: IToken): Span {
    return this.src.span(t.startOffset, t.image.length);
  }

  /** Statements of a file node or of a block node. */
  statements(node: CstNode): Stmt[] {
    this.reportCommas(node);
    const out: Stmt[] = [];
    for (const n of statementNodes(node)) {
      const s = this.statement(n);
      if (s) out.push(s);
    }
    return out;
  }

  /** Commas in a packages block (the grammar takes them there): one diagnostic a block. */
  private reportCommas(node: CstNode): void {
    const commas = (node.children.Comma ?? []).filter((e): e is IToken => isToken(e) && realToken(e));
    const first = commas[0];
    if (!first) return;
    const more = commas.length > 1 ? ` (and ${commas.length - 1} more)` : '';
    this.sink.error('comma-in-packages', `packages are not separated by commas${more}`, this.tokenSpan(first), 'write one package a line (only `exclude` takes a comma list)');
  }

  private statement(node: CstNode): Stmt | undefined {
    // A statement is its real tokens (its own and its argument rules', in source order)
    // and at most one block, which the grammar always puts last.
    const tokens: IToken[] = [];
    const blocks: CstNode[] = [];
    collectStatement(node, tokens, blocks);
    sortByOffset(tokens);
    const kw = tokens[0];
    if (!kw) return undefined;
    if (node.name === 'packagesItem' && kw.tokenType !== EXCLUDE) {
      // A bare package item: no keyword, the name (or @list, or "quoted name") is the argument.
      const span = this.tokenSpan(kw);
      return { keyword: '', keywordSpan: this.src.span(kw.startOffset, 0), args: [this.arg(kw)], span, endLine: span.line };
    }

    const args: Arg[] = [];
    let pendingList: Arg[] | undefined;
    let end = -1;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as IToken;
      end = Math.max(end, t.startOffset + t.image.length);
      if (i === 0) continue;
      const type = t.tokenType;
      if (type === Comma) {
        // `a, b`: the argument before the comma opens (or continues) a list.
        const last = args[args.length - 1];
        if (!last) continue;
        if (last.kind === 'list') {
          pendingList = last.items;
        } else {
          const list: Arg = { kind: 'list', items: [last], span: last.span };
          args[args.length - 1] = list;
          pendingList = list.items;
        }
      } else if (type !== LCurly && type !== RCurly) {
        const a = this.arg(t);
        if (pendingList) {
          pendingList.push(a);
          pendingList = undefined;
        } else {
          args.push(a);
        }
      }
    }
    let body: Stmt[] | undefined;
    let bodyEnd: number | undefined;
    for (const b of blocks) {
      body = this.statements(b);
      for (const t of b.children.RCurly ?? []) {
        if (isToken(t) && realToken(t)) {
          bodyEnd = t.startOffset;
          end = Math.max(end, t.startOffset + 1);
        }
      }
      for (const s of body) end = Math.max(end, s.span.offset + s.span.length);
    }
    // Close list spans over their items.
    for (const a of args) if (a.kind === 'list') a.span = this.cover(a.items.map((i) => i.span));
    const stmt: Stmt = {
      keyword: kw.image,
      keywordSpan: this.tokenSpan(kw),
      args,
      span: this.src.span(kw.startOffset, Math.max(kw.image.length, end - kw.startOffset)),
      endLine: this.src.position(Math.max(kw.startOffset, end - 1)).line,
    };
    if (body) stmt.body = body;
    if (bodyEnd !== undefined) stmt.bodyEnd = bodyEnd;
    return stmt;
  }

  private cover(spans: Span[]): Span {
    const first = spans[0];
    if (!first) return this.src.span(0, 0);
    const endOff = Math.max(...spans.map((s) => s.offset + s.length));
    return this.src.span(first.offset, endOff - first.offset);
  }

  private arg(t: IToken): Arg {
    const span = this.tokenSpan(t);
    // Identity is enough: none of these types is another's category.
    switch (t.tokenType) {
      case StringLit: return { kind: 'string', text: t.image, value: this.decodeString(t, span), span };
      case Arrow: return { kind: 'arrow', text: t.image, span };
      case PackageRef: return { kind: 'ref', text: t.image.slice(1), span };
      case Size: return { kind: 'size', text: t.image, value: parseSize(t.image) ?? 0, span };
      case Duration: return { kind: 'duration', text: t.image, value: parseDuration(t.image) ?? 0, span };
      case Integer: return { kind: 'int', text: t.image, value: Number(t.image), span };
      default: return { kind: 'name', text: t.image, span };
    }
  }

  /** Decodes \" \\ \n \t \r and \u{XXXX}; reports bad escapes and a missing closing quote. */
  private decodeString(t: IToken, span: Span): string {
    const raw = t.image;
    const closed = raw.length >= 2 && raw.endsWith('"') && !isEscapedAt(raw, raw.length - 1);
    if (!closed) {
      this.sink.error('unterminated-string', 'string is not closed before the end of the line', span, 'add a closing `"`');
    }
    const body = raw.slice(1, closed ? -1 : undefined);
    if (!body.includes('\\')) return body;
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i] as string;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const n = body[i + 1];
      i++;
      switch (n) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'u': {
          const m = /^\{([0-9a-fA-F]{1,6})\}/.exec(body.slice(i + 1));
          const cp = m ? parseInt(m[1] as string, 16) : NaN;
          if (m && cp <= 0x10ffff) {
            out += String.fromCodePoint(cp);
            i += m[0].length;
            break;
          }
          this.sink.error('invalid-escape', 'a \\u escape needs 1 to 6 hex digits in braces, at most 10FFFF', this.src.span(t.startOffset + i + 1, 2), 'write it as `\\u{00e9}`');
          break;
        }
        default:
          this.sink.error(
            'invalid-escape',
            `unknown escape \`\\${n ?? ''}\` in a string`,
            this.src.span(t.startOffset + i, n === undefined ? 1 : 2),
            'known escapes: \\" \\\\ \\n \\t \\r \\u{XXXX}',
          );
      }
    }
    return out;
  }
}

function isEscapedAt(s: string, idx: number): boolean {
  let n = 0;
  for (let i = idx - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}
