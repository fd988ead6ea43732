// Text → AST with every lexing and parsing error as a diagnostic. Never throws.
import type { ILexingError, IRecognitionException, IToken } from 'chevrotain';
import type { RecipeAst } from './ast';
import { AstBuilder } from './cst-to-ast';
import { DiagnosticSink } from './diagnostics';
import { MAX_NESTING, MAX_SYNTAX_ERRORS, recipeParser } from './parser';
import { blockOfRule, isStatementOf, TOP_LEVEL_KEYWORDS, unknownStatement } from './properties';
import { SourceFile } from './source';
import { didYouMean } from './suggest';
import { KEYWORDS, tokenizeRecipe } from './tokens';

export interface ParseResult {
  source: SourceFile;
  ast: RecipeAst;
  sink: DiagnosticSink;
}

/** Largest recipe read: far above any real one, small enough that no input can stall the compiler. */
export const MAX_RECIPE_BYTES = 4 * 1024 * 1024;
/** Lexer errors reported a file; past these, one line says how many more. */
const MAX_LEXER_ERRORS = 100;

export function parseRecipe(path: string, text: string, sink: DiagnosticSink = new DiagnosticSink()): ParseResult {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a text near the limit needs counting.
  const bytes = text.length > MAX_RECIPE_BYTES / 3 ? utf8Length(text) : text.length;
  if (bytes > MAX_RECIPE_BYTES) {
    const source = new SourceFile(path, '');
    const size = (bytes / 1048576).toFixed(1);
    sink.error('file-too-large', `recipe is ${size} MiB; the limit is ${MAX_RECIPE_BYTES / 1048576} MiB`, source.span(0, 0), 'split it into files that import each other');
    return { source, ast: { file: path, statements: [], comments: [] }, sink };
  }
  const source = new SourceFile(path, text);
  const lexed = tokenizeRecipe(text);
  reportLexerErrors(lexed.errors, source, sink);
  const parsed = recipeParser().parseFile(lexed.tokens);
  for (const e of parsed.errors) reportParseError(e, source, sink);
  if (parsed.stoppedAt) {
    const at = parsed.stoppedAt;
    sink.error('too-many-errors', `parsing stopped after ${MAX_SYNTAX_ERRORS} syntax errors`, source.span(Number.isFinite(at.startOffset) ? at.startOffset : text.length, 0), 'fix the first ones and check again');
  }
  if (parsed.tooDeepAt) {
    sink.error('nesting-too-deep', `blocks nest more than ${MAX_NESTING} levels deep`, source.span(parsed.tooDeepAt.startOffset, 1), 'a recipe needs a few levels: check for unbalanced `{`');
  }
  const comments = (lexed.groups.comments ?? []).map((t: IToken) => ({ text: t.image, span: source.span(t.startOffset, t.image.length) }));
  const statements = parsed.cst ? new AstBuilder(source, sink).statements(parsed.cst) : [];
  return { source, ast: { file: path, statements, comments }, sink };
}

/** UTF-8 size of a string (no Buffer: the compiler runs outside Node too). */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function reportLexerErrors(errors: readonly ILexingError[], source: SourceFile, sink: DiagnosticSink): void {
  const text = source.text;
  for (const e of errors.slice(0, MAX_LEXER_ERRORS)) {
    const ch = text.slice(e.offset, e.offset + Math.max(1, e.length));
    sink.error('unexpected-character', `unexpected character \`${ch.slice(0, 20)}\``, source.span(e.offset, Math.max(1, e.length)), hintForChar(ch));
  }
  const rest = errors[MAX_LEXER_ERRORS];
  if (rest) sink.error('too-many-errors', `${errors.length - MAX_LEXER_ERRORS} more unexpected characters`, source.span(rest.offset, 0));
}

function hintForChar(ch: string): string | undefined {
  if (ch.startsWith("'")) return 'strings use double quotes: "..."';
  if (ch.startsWith(';')) return 'statements need no separator: put each on its own line';
  if (ch.startsWith('=') || ch.startsWith(':')) return 'write the value after the property name, without `=` or `:`';
  if (ch.startsWith('/')) return 'comments start with `#`';
  return undefined;
}

function reportParseError(e: IRecognitionException, source: SourceFile, sink: DiagnosticSink): void {
  const tok = e.token;
  const atEnd = !tok || tok.tokenType?.name === 'EOF' || !Number.isFinite(tok.startOffset);
  const offset = atEnd ? source.text.length : tok.startOffset;
  const length = atEnd ? 0 : Math.max(1, tok.image.length);
  const span = source.span(offset, length);
  const found = atEnd ? 'the end of the file' : `\`${clip(tok.image)}\``;
  const rules = e.context?.ruleStack ?? [];
  const inRule = rules[rules.length - 1] ?? '';
  const expectsClose = /RCurly|'}'/.test(e.message);

  // A word where a statement should start: most likely a misspelt keyword.
  // Which words start a statement of the block, and where others stand, is the property table's.
  const block = blockOfRule(inRule);
  if (!atEnd && expectsClose && /^[A-Za-z][A-Za-z0-9_-]*$/.test(tok.image) && (block ? !isStatementOf(block, tok.image) : !KEYWORDS.has(tok.image))) {
    // Clipped: the suggestion's edit distance is quadratic in the word, and a megabyte word is no misspelling.
    const { message, hint } = unknownStatement(clip(tok.image), block);
    sink.error('unknown-statement', message, span, hint);
    return;
  }
  if (atEnd && expectsClose) {
    sink.error('unclosed-block', 'the file ends inside a block', span, 'add the missing `}`');
    return;
  }
  if (inRule === 'file' || (rules.length <= 1 && e.name === 'NoViableAltException')) {
    const hint = /^[A-Za-z]/.test(tok?.image ?? '') ? didYouMean(clip(tok.image), TOP_LEVEL_KEYWORDS) : undefined;
    const words = TOP_LEVEL_KEYWORDS.map((k) => `\`${k}\``);
    sink.error('unexpected-token', `expected ${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}, found ${found}`, span, hint);
    return;
  }
  sink.error('syntax', `${describeExpectation(e.message)}, found ${found}`, span);
}

/** A token as quoted in a message: a megabyte word must not make a megabyte message. */
function clip(image: string): string {
  return image.length > 60 ? `${image.slice(0, 60)}…` : image;
}

/** Chevrotain's messages name token types; say it the way a recipe writer would. */
function describeExpectation(message: string): string {
  const first = message.split('\n')[0] ?? message;
  const m = /Expecting token of type --> (\w+) <--/.exec(first);
  if (m) return `expected ${tokenWord(m[1] as string)}`;
  const alts = [...message.matchAll(/\[([^\]]*)\]/g)].map((x) => (x[1] ?? '').split(',')[0]?.trim() ?? '').filter(Boolean);
  if (alts.length > 0) {
    const words = [...new Set(alts.map(tokenWord))].slice(0, 8);
    return `expected one of ${words.join(', ')}`;
  }
  return 'unexpected input';
}

function tokenWord(type: string): string {
  if (type.startsWith('Kw_')) return `\`${type.slice(3).replace(/_/g, '-')}\``;
  switch (type) {
    case 'Name': return 'a name';
    case 'String': return 'a string';
    case 'LCurly': return '`{`';
    case 'RCurly': return '`}`';
    case 'Comma': return '`,`';
    case 'Arrow': return '`->`';
    case 'Size': return 'a size such as `20G`';
    case 'Duration': return 'a duration such as `15m`';
    case 'Integer': return 'a number';
    case 'PackageRef': return 'a package list reference `@name`';
    default: return type;
  }
}
