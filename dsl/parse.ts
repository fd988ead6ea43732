// Text → AST with every lexing and parsing error as a diagnostic. Never throws.
import type { IRecognitionException, IToken } from 'chevrotain';
import type { RecipeAst } from './ast';
import { AstBuilder } from './cst-to-ast';
import { DiagnosticSink } from './diagnostics';
import { recipeParser } from './parser';
import { SourceFile } from './source';
import { didYouMean } from './suggest';
import { KEYWORDS, tokenizeRecipe } from './tokens';

export interface ParseResult {
  source: SourceFile;
  ast: RecipeAst;
  sink: DiagnosticSink;
}

export function parseRecipe(path: string, text: string, sink: DiagnosticSink = new DiagnosticSink()): ParseResult {
  const source = new SourceFile(path, text);
  const lexed = tokenizeRecipe(text);
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + Math.max(1, e.length));
    sink.error('unexpected-character', `unexpected character \`${ch.slice(0, 20)}\``, source.span(e.offset, Math.max(1, e.length)), hintForChar(ch));
  }
  const parser = recipeParser();
  parser.input = lexed.tokens;
  const cst = parser.file();
  for (const e of parser.errors) reportParseError(e, source, sink);
  const comments = (lexed.groups.comments ?? []).map((t: IToken) => ({ text: t.image, span: source.span(t.startOffset, t.image.length) }));
  const statements = cst ? new AstBuilder(source, sink).statements(cst) : [];
  return { source, ast: { file: path, statements, comments }, sink };
}

function hintForChar(ch: string): string | undefined {
  if (ch.startsWith("'")) return 'strings use double quotes: "..."';
  if (ch.startsWith(';')) return 'statements need no separator: put each on its own line';
  if (ch.startsWith('=') || ch.startsWith(':')) return 'write the value after the property name, without `=` or `:`';
  if (ch.startsWith('/')) return 'comments start with `#`';
  return undefined;
}

const STATEMENT_RULES: Record<string, string> = {
  productBody: 'product property',
  settingsBody: 'setting',
  userBody: 'user property',
  servicesBody: '`enable` or `disable`',
  outputBody: 'output option',
  testBody: 'test option',
  repoBody: 'repository option',
  policyBody: 'policy rule',
  productStmt: 'product property',
  settingsStmt: 'setting',
  userStmt: 'user property',
  servicesStmt: '`enable` or `disable`',
  outputStmt: 'output option',
  testStmt: 'test option',
  repoStmt: 'repository option',
  policyStmt: 'policy rule',
};

function reportParseError(e: IRecognitionException, source: SourceFile, sink: DiagnosticSink): void {
  const tok = e.token;
  const atEnd = !tok || tok.tokenType?.name === 'EOF' || !Number.isFinite(tok.startOffset);
  const offset = atEnd ? source.text.length : tok.startOffset;
  const length = atEnd ? 0 : Math.max(1, tok.image.length);
  const span = source.span(offset, length);
  const found = atEnd ? 'the end of the file' : `\`${tok.image}\``;
  const rules = e.context?.ruleStack ?? [];
  const inRule = rules[rules.length - 1] ?? '';
  const expectsClose = /RCurly|'}'/.test(e.message);

  // A word where a statement should start: most likely a misspelt keyword.
  if (!atEnd && expectsClose && /^[A-Za-z][A-Za-z0-9_-]*$/.test(tok.image) && !KEYWORDS.has(tok.image)) {
    const hint = didYouMean(tok.image, KEYWORDS);
    sink.error('unknown-statement', `\`${tok.image}\` is not a ${STATEMENT_RULES[inRule] ?? 'statement'} here`, span, hint);
    return;
  }
  if (atEnd && expectsClose) {
    sink.error('unclosed-block', 'the file ends inside a block', span, 'add the missing `}`');
    return;
  }
  if (inRule === 'file' || (rules.length <= 1 && e.name === 'NoViableAltException')) {
    const hint = /^[A-Za-z]/.test(tok?.image ?? '') ? didYouMean(tok.image, ['import', 'product', 'variant', 'license-policy', 'package-list']) : undefined;
    sink.error('unexpected-token', `expected \`import\`, \`product\`, \`variant\`, \`license-policy\` or \`package-list\`, found ${found}`, span, hint);
    return;
  }
  sink.error('syntax', `${describeExpectation(e.message)}, found ${found}`, span);
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
