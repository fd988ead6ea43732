// The recipe language's tokens. Keywords belong to the Name category, so a keyword may
// still stand where a name is expected (a package called `file`, `publish files ...`).
import { createToken, Lexer, type ILexingResult, type IToken, type TokenType } from 'chevrotain';
import { KEYWORD_WORDS } from './properties';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v\u00a0\ufeff]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: 'comments' });

/** Names: packages, arches, products, profiles (`distro/regular-xfce`), license ids. */
export const Name = createToken({ name: 'Name', pattern: /[A-Za-z0-9_][A-Za-z0-9_.+\-/]*/ });

// A string may lack its closing quote: the lexer still takes it, the AST builder reports it,
// so one missing quote does not turn the rest of the file into noise.
export const StringLit = createToken({ name: 'String', pattern: /"(?:[^"\\\n]|\\[^\n])*"?/ });
export const Arrow = createToken({ name: 'Arrow', pattern: /->/ });
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/ });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/ });
export const Comma = createToken({ name: 'Comma', pattern: /,/ });
export const PackageRef = createToken({ name: 'PackageRef', pattern: /@[A-Za-z0-9_][A-Za-z0-9_.+-]*/ });
// Words the lexer retypes (see tokenizeRecipe): never matched by a pattern of their own.
export const Duration = createToken({ name: 'Duration', pattern: Lexer.NA, categories: [Name] });
export const Size = createToken({ name: 'Size', pattern: Lexer.NA, categories: [Name] });
export const Integer = createToken({ name: 'Integer', pattern: Lexer.NA, categories: [Name] });

// Keywords are the property table's (dsl/properties): a row's keyword and the words its form
// names. Each is a Name to the lexer, retyped after lexing (see tokenizeRecipe).
const keywordTokens: TokenType[] = [];
const KEYWORD_TYPES = new Map<string, TokenType>();
for (const word of KEYWORD_WORDS) {
  const t = createToken({ name: 'Kw_' + word.replace(/-/g, '_'), pattern: Lexer.NA, categories: [Name] });
  keywordTokens.push(t);
  KEYWORD_TYPES.set(word, t);
}

/** The token type of a keyword of the table. */
export function keywordType(word: string): TokenType {
  const t = KEYWORD_TYPES.get(word);
  if (!t) throw new Error(`\`${word}\` is not a keyword of the property table`);
  return t;
}

/** Every token type the parser knows; keywords and numbers are Names the lexer retypes. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  Arrow,
  LCurly,
  RCurly,
  Comma,
  PackageRef,
  ...keywordTokens,
  Duration,
  Size,
  Integer,
  Name,
];

export const KEYWORDS: ReadonlySet<string> = new Set(KEYWORD_TYPES.keys());

// The lexer sees one word token only. Keywords as lexer patterns (each with `longer_alt:
// Name`) cost up to a dozen regex tries per word; a keyword is exactly a word whose whole
// text is the keyword (which is what `longer_alt` decided), so a map lookup after lexing
// gives the same tokens at a fraction of the cost. The same holds for 15m, 20G and 42.
const recipeLexer = new Lexer([WhiteSpace, Comment, StringLit, Arrow, LCurly, RCurly, Comma, PackageRef, Name], {
  positionTracking: 'onlyOffset',
  ensureOptimizations: true,
});

const DURATION = /^\d+(?:ms|s|m|h|d)$/;
const SIZE = /^\d+[KMGT]$/;
const INTEGER = /^\d+$/;

/** The word's own token type: a keyword, a duration, a size, an integer or a plain Name. */
function wordType(image: string): TokenType {
  const c = image.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    if (INTEGER.test(image)) return Integer;
    if (SIZE.test(image)) return Size;
    if (DURATION.test(image)) return Duration;
    return Name;
  }
  return KEYWORD_TYPES.get(image) ?? Name;
}

/** Lexes a recipe into the parser's tokens. */
export function tokenizeRecipe(text: string): ILexingResult {
  const lexed = recipeLexer.tokenize(text);
  const tokens: IToken[] = lexed.tokens;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as IToken;
    if (t.tokenType !== Name) continue;
    const type = wordType(t.image);
    if (type === Name) continue;
    t.tokenType = type;
    t.tokenTypeIdx = type.tokenTypeIdx as number;
  }
  return lexed;
}
