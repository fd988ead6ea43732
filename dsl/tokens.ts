// The recipe language's tokens. Keywords belong to the Name category, so a keyword may
// still stand where a name is expected (a package called `file`, `publish files ...`).
import { createToken, Lexer, type TokenType } from 'chevrotain';

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
export const Duration = createToken({ name: 'Duration', pattern: /\d+(?:ms|s|m|h|d)/, longer_alt: Name, categories: [Name] });
export const Size = createToken({ name: 'Size', pattern: /\d+[KMGT]/, longer_alt: Name, categories: [Name] });
export const Integer = createToken({ name: 'Integer', pattern: /\d+/, longer_alt: Name, categories: [Name] });

const keywordTokens: TokenType[] = [];
function kw(word: string): TokenType {
  const name = 'Kw_' + word.replace(/-/g, '_');
  const t = createToken({ name, pattern: new RegExp(word.replace(/[-]/g, '\\-')), longer_alt: Name, categories: [Name] });
  keywordTokens.push(t);
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
} as const;

/** Longer keywords first where one is a prefix of another (`license-policy` before `license`). */
const orderedKeywords = [...keywordTokens].sort(
  (a, b) => String((b.PATTERN as RegExp).source).length - String((a.PATTERN as RegExp).source).length,
);

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  Arrow,
  LCurly,
  RCurly,
  Comma,
  PackageRef,
  ...orderedKeywords,
  Duration,
  Size,
  Integer,
  Name,
];

export const KEYWORDS: ReadonlySet<string> = new Set(keywordTokens.map((t) => (t.PATTERN as RegExp).source.replace(/\\-/g, '-')));

export const recipeLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
