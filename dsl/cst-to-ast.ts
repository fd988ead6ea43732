// CST → AST: reads any statement node as keyword, arguments, block. Tolerates the partial
// nodes that Chevrotain's error recovery leaves behind (missing children, inserted tokens).
import { tokenMatcher, type CstElement, type CstNode, type IToken } from 'chevrotain';
import type { Arg, Stmt } from './ast';
import type { DiagnosticSink } from './diagnostics';
import { isBlockRule } from './parser';
import type { SourceFile, Span } from './source';
import { Arrow, Comma, Duration, Integer, K, LCurly, PackageRef, RCurly, Size, StringLit } from './tokens';
import { parseDuration, parseSize } from './literals';

const isToken = (e: CstElement): e is IToken => (e as IToken).tokenType !== undefined;

function realToken(t: IToken): boolean {
  return !t.isInsertedInRecovery && Number.isFinite(t.startOffset) && t.image.length > 0;
}

/** Children of a node in source order (Chevrotain groups them by label). */
function ordered(node: CstNode): CstElement[] {
  const all: { e: CstElement; at: number }[] = [];
  for (const list of Object.values(node.children)) {
    for (const e of list ?? []) {
      const loc = isToken(e) ? e.startOffset : e.location?.startOffset;
      const at = loc !== undefined && Number.isFinite(loc) ? loc : isToken(e) ? NaN : firstOffset(e);
      if (Number.isFinite(at)) all.push({ e, at });
    }
  }
  return all.sort((a, b) => a.at - b.at).map((x) => x.e);
}

function firstOffset(node: CstNode): number {
  let best = NaN;
  for (const list of Object.values(node.children)) {
    for (const e of list ?? []) {
      const o = isToken(e) ? (realToken(e) ? e.startOffset : NaN) : firstOffset(e);
      if (Number.isFinite(o) && !(o >= best)) best = o;
    }
  }
  return best;
}

export class AstBuilder {
  constructor(private readonly src: SourceFile, private readonly sink: DiagnosticSink) {}

  private tokenSpan(t: IToken): Span {
    return this.src.span(t.startOffset, t.image.length);
  }

  /** Statements of a file node or of a block node. */
  statements(node: CstNode): Stmt[] {
    const out: Stmt[] = [];
    for (const e of ordered(node)) {
      if (isToken(e)) continue; // braces of a block
      const s = this.statement(e);
      if (s) out.push(s);
    }
    return out;
  }

  private statement(node: CstNode): Stmt | undefined {
    // A statement rule may wrap exactly one declaration rule (file → productDecl).
    const tokens: IToken[] = [];
    const args: Arg[] = [];
    let body: Stmt[] | undefined;
    let bodyEnd: number | undefined;
    let pendingList: Arg[] | undefined;
    let end = -1;

    const pushArg = (a: Arg): void => {
      if (pendingList) {
        pendingList.push(a);
        pendingList = undefined;
        return;
      }
      args.push(a);
    };
    const startList = (): void => {
      const last = args[args.length - 1];
      if (!last) return;
      if (last.kind === 'list') {
        pendingList = last.items;
      } else {
        const list: Arg = { kind: 'list', items: [last], span: last.span };
        args[args.length - 1] = list;
        pendingList = list.items;
      }
    };

    const walk = (n: CstNode): void => {
      for (const e of ordered(n)) {
        if (isToken(e)) {
          if (!realToken(e)) continue;
          end = Math.max(end, e.startOffset + e.image.length);
          if (tokens.length === 0) {
            tokens.push(e);
            continue;
          }
          tokens.push(e);
          if (tokenMatcher(e, Comma)) startList();
          else if (tokenMatcher(e, LCurly) || tokenMatcher(e, RCurly)) continue;
          else pushArg(this.arg(e));
        } else if (isBlockRule(e.name)) {
          body = this.statements(e);
          for (const t of e.children.RCurly ?? []) {
            if (isToken(t) && realToken(t)) {
              bodyEnd = t.startOffset;
              end = Math.max(end, t.startOffset + 1);
            }
          }
          for (const s of body) end = Math.max(end, s.span.offset + s.span.length);
        } else {
          walk(e);
        }
      }
    };
    walk(node);
    // Close list spans over their items.
    for (const a of args) if (a.kind === 'list') a.span = this.cover(a.items.map((i) => i.span));
    const kw = tokens[0];
    if (!kw) return undefined;
    if (node.name === 'packagesItem' && !tokenMatcher(kw, K.exclude)) {
      // A bare package item: no keyword, the name (or @list, or "quoted name") is the argument.
      const span = this.tokenSpan(kw);
      return { keyword: '', keywordSpan: this.src.span(kw.startOffset, 0), args: [this.arg(kw)], span, endLine: span.line };
    }
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
    if (tokenMatcher(t, StringLit)) return { kind: 'string', text: t.image, value: this.decodeString(t, span), span };
    if (tokenMatcher(t, Arrow)) return { kind: 'arrow', text: t.image, span };
    if (tokenMatcher(t, PackageRef)) return { kind: 'ref', text: t.image.slice(1), span };
    if (tokenMatcher(t, Size)) return { kind: 'size', text: t.image, value: parseSize(t.image) ?? 0, span };
    if (tokenMatcher(t, Duration)) return { kind: 'duration', text: t.image, value: parseDuration(t.image) ?? 0, span };
    if (tokenMatcher(t, Integer)) return { kind: 'int', text: t.image, value: Number(t.image), span };
    return { kind: 'name', text: t.image, span };
  }

  /** Decodes \" \\ \n \t \r and \u{XXXX}; reports bad escapes and a missing closing quote. */
  private decodeString(t: IToken, span: Span): string {
    const raw = t.image;
    const closed = raw.length >= 2 && raw.endsWith('"') && !isEscapedAt(raw, raw.length - 1);
    if (!closed) {
      this.sink.error('unterminated-string', 'string is not closed before the end of the line', span, 'add a closing `"`');
    }
    const body = raw.slice(1, closed ? -1 : undefined);
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
