// The recipe language's tokens. Keywords belong to the Name category, so a keyword may
// still stand where a name is expected (a package called `file`, `publish files ...`).
import { createToken, Lexer, type ILexingResult, type IToken, type TokenType } from 'chevrotain';

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

const keywordTokens: TokenType[] = [];
const KEYWORD_TYPES = new Map<string, TokenType>();
function kw(word: string): TokenType {
  const t = createToken({ name: 'Kw_' + word.replace(/-/g, '_'), pattern: Lexer.NA, categories: [Name] });
  keywordTokens.push(t);
  KEYWORD_TYPES.set(word, t);
  return t;
}

export const K = {
  import: kw('import'),
  product: kw('product'),
  extends: kw('extends'),
  variant: kw('variant'),
  of: kw('of'),
  licensePolicy: kw('license-policy'),
  packageList: kw('package-list'),
  title: kw('title'),
  version: kw('version'),
  branch: kw('branch'),
  toolchain: kw('toolchain'),
  arch: kw('arch'),
  kernel: kw('kernel'),
  profile: kw('profile'),
  packages: kw('packages'),
  exclude: kw('exclude'),
  repo: kw('repo'),
  suite: kw('suite'),
  components: kw('components'),
  key: kw('key'),
  settings: kw('settings'),
  locale: kw('locale'),
  timezone: kw('timezone'),
  hostname: kw('hostname'),
  keyboard: kw('keyboard'),
  rootPassword: kw('root-password'),
  user: kw('user'),
  groups: kw('groups'),
  password: kw('password'),
  shell: kw('shell'),
  uid: kw('uid'),
  services: kw('services'),
  enable: kw('enable'),
  disable: kw('disable'),
  files: kw('files'),
  script: kw('script'),
  inline: kw('inline'),
  output: kw('output'),
  size: kw('size'),
  tag: kw('tag'),
  compression: kw('compression'),
  label: kw('label'),
  on: kw('on'),
  license: kw('license'),
  policy: kw('policy'),
  test: kw('test'),
  boot: kw('boot'),
  run: kw('run'),
  reproducible: kw('reproducible'),
  timeout: kw('timeout'),
  expect: kw('expect'),
  exit: kw('exit'),
  publish: kw('publish'),
  schedule: kw('schedule'),
  owner: kw('owner'),
  community: kw('community'),
  maintainer: kw('maintainer'),
  partner: kw('partner'),
  allow: kw('allow'),
  review: kw('review'),
  deny: kw('deny'),
  unknown: kw('unknown'),
  waive: kw('waive'),
  reason: kw('reason'),
  until: kw('until'),
  sources: kw('sources'),
  profilesTree: kw('profiles-tree'),
  keep: kw('keep'),
  emulate: kw('emulate'),
  after: kw('after'),
} as const;

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
