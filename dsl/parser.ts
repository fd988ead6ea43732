// The recipe grammar (Chevrotain, concrete syntax tree only; cst-to-ast.ts gives it meaning),
// made from the property table: each block is a rule `{ statement* }`, its statement rule one
// alternative per row (the row's keyword, then its form), so a new statement is a new row.
// The AST builder reads any statement as: keyword, arguments, block.
import { CstParser, EOF, tokenMatcher, type CstNode, type IOrAlt, type IRecognitionException, type IToken, type ITokenGrammarPath, type ParserMethod, type TokenType } from 'chevrotain';
import { type AnyProperty, type Block, BLOCKS, type Form, PROPERTIES } from './properties';
import { allTokens, Arrow, Comma, Duration, Integer, keywordType, LCurly, Name, PackageRef, RCurly, Size, StringLit } from './tokens';

/** Syntax errors after which parsing stops: past these the rest is noise, and each costs time. */
export const MAX_SYNTAX_ERRORS = 100;
/** Blocks nest four deep in real recipes; the limit keeps every recursive walk well inside the stack. */
export const MAX_NESTING = 64;

/** Tokens the recovery looks ahead for a place to resume: Chevrotain looks to the end of the file. */
const RESYNC_WINDOW = 1000;

type GrammarPath = ITokenGrammarPath;

/** Thrown from inside the parser to end a parse (not a recognition error: Chevrotain rethrows it). */
class StopParsing extends Error {}

/** Chevrotain's error hook, not in its typings; the parser counts errors through it. */
type SaveError = (this: CstParser, e: IRecognitionException) => IRecognitionException;
const chevrotainSaveError = (CstParser.prototype as unknown as { SAVE_ERROR: SaveError }).SAVE_ERROR;

export interface FileParse {
  /** Undefined when parsing stopped (too many errors, too deep). */
  cst: CstNode | undefined;
  errors: IRecognitionException[];
  /** Set when parsing stopped after MAX_SYNTAX_ERRORS errors: the token it stopped at. */
  stoppedAt?: IToken;
  /** Set when a block opens deeper than MAX_NESTING: its `{`. */
  tooDeepAt?: IToken;
}

export class RecipeParser extends CstParser {
  private errorCount = 0;
  /** The rules by name: a block's body and statement rules, the rules of rows that have their own. */
  private readonly rules = new Map<string, Rule>();
  /** Occurrence indices used so far, per rule being made and per token type or sub-rule. */
  private counts = new Map<string, number>();

  /**
   * `validate`: Chevrotain's grammar checks (ambiguities, left recursion, ...). The grammar is
   * the table's, fixed at build time: a test builds it with the checks once, every other parser
   * skips them (they are most of the setup time of a process). LL(1): every statement starts
   * with its keyword and every choice within one with a token of its own (that test checks it),
   * so one token of lookahead decides, at the least cost.
   */
  constructor(options: { validate?: boolean } = {}) {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 1, nodeLocationTracking: 'none', skipValidations: !options.validate });
    this.makeRules();
    this.performSelfAnalysis();
  }

  /**
   * Parses a token stream into a file CST. Chevrotain re-enters a repetition recursively
   * after each error it recovers from inside it, so the error count bounds the stack depth
   * and the time as much as the output; MAX_NESTING bounds the grammar's own recursion.
   */
  parseFile(tokens: IToken[]): FileParse {
    const tooDeepAt = firstTooDeep(tokens);
    if (tooDeepAt) return { cst: undefined, errors: [], tooDeepAt };
    this.input = tokens;
    this.errorCount = 0;
    // Chevrotain's recognition errors are Errors, and it makes (and drops) many while it
    // recovers: without stack traces, which nobody reads, each costs a fraction.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      const cst = this.file();
      return { cst, errors: this.errors };
    } catch (e) {
      if (!(e instanceof StopParsing)) throw e;
      const errors = this.errors.slice(0, MAX_SYNTAX_ERRORS);
      return { cst: undefined, errors, stoppedAt: errors[errors.length - 1]?.token };
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  }

  /** Tokens that may follow a place in the grammar, by place: the same on every error there. */
  private readonly followsByPath = new Map<string, TokenType[]>();

  /**
   * Chevrotain's in-rule recovery walks the grammar for the tokens that may follow the
   * failed one, on every error; the answer depends only on the place, so it is kept.
   */
  protected override getNextPossibleTokenTypes(path: GrammarPath): TokenType[] {
    const key = `${path.ruleStack.join(' ')}|${path.occurrenceStack.join(' ')}|${path.lastTok.name}|${path.lastTokOccurrence}`;
    let follows = this.followsByPath.get(key);
    if (!follows) {
      follows = super.getNextPossibleTokenTypes(path);
      this.followsByPath.set(key, follows);
    }
    return follows;
  }

  /** Chevrotain calls this for every syntax error it records. */
  protected SAVE_ERROR(e: IRecognitionException): IRecognitionException {
    const saved = chevrotainSaveError.call(this, e);
    if (++this.errorCount >= MAX_SYNTAX_ERRORS) throw new StopParsing();
    return saved;
  }

  /**
   * Chevrotain's recovery: the next token where parsing can resume. Its own search runs to
   * the end of the input on every error (quadratic on a long broken file); past the window
   * the end of the file is the answer, which only means the rest of the block is skipped.
   */
  protected findReSyncTokenType(): TokenType {
    const follows = (this as unknown as { flattenFollowSet(): TokenType[] }).flattenFollowSet();
    for (let k = 1; k <= RESYNC_WINDOW; k++) {
      const t = this.LA(k);
      if (t.tokenType === EOF) return EOF;
      for (const f of follows) if (tokenMatcher(t, f)) return f;
    }
    return EOF;
  }


  /** The file rule, the declarations' rules and every block's rules, from the property table. */
  private makeRules(): void {
    this.rules.set('nameList', this.nameList);
    this.rules.set('wordList', this.wordList);
    for (const p of PROPERTIES) if (p.rule && !this.rules.has(p.rule)) this.define(p.rule, () => this.seq([{ kw: p.keyword }, ...p.form]));
    const decls = PROPERTIES.filter((p) => p.block === 'file').map((p): Part => [{ rule: p.rule ?? '' }]);
    this.define('file', () => {
      const inner = this.orOf(decls);
      return () => this.many(0, inner);
    });
    for (const block of Object.keys(BLOCKS) as Block[]) {
      if (block === 'file') continue;
      const [bodyRule, stmtRule] = BLOCKS[block].rules as [string, string];
      const rows = PROPERTIES.filter((p) => p.block === block);
      this.define(stmtRule, () => this.statements(rows));
      this.define(bodyRule, () => {
        // Commas between packages are taken here so that `a, b, c` is one diagnostic (the AST
        // builder's), not one syntax error and one recovery per comma.
        const inner = BLOCKS[block].commas ? this.orOf([[{ rule: stmtRule }], ['COMMA']]) : this.one({ rule: stmtRule });
        return () => {
          this.consume(0, LCurly);
          this.many(0, inner);
          this.consume(0, RCurly);
        };
      });
    }
  }

  /**
   * A block's statement rule: one alternative per keyword row (its rule, or its keyword and
   * form), then a bare row's own alternatives; trying keywords first is what makes `exclude`
   * a keyword among package names, which are Names too.
   */
  private statements(rows: readonly AnyProperty[]): () => void {
    const alts: Part[] = [];
    for (const p of rows) if (p.keyword !== '') alts.push(p.rule ? [{ rule: p.rule }] : [{ kw: p.keyword }, ...p.form]);
    const bare = rows.filter((p) => p.keyword === '');
    for (const p of bare) {
      const only = p.form.length === 1 ? p.form[0] : undefined;
      if (only && typeof only !== 'string' && 'or' in only) alts.push(...only.or);
      else alts.push(p.form);
    }
    return alts.length === 1 ? this.seq(alts[0] as Part) : this.orOf(alts, bare.length > 0);
  }

  /**
   * Defines a rule; `make` is called once, with fresh occurrence counts: each Chevrotain call
   * in the rule gets its index here, and every array and closure is made once, not on each run
   * of the rule (as literals in a rule they are remade on every call).
   */
  private define(name: string, make: () => () => void): void {
    this.counts = new Map();
    this.rules.set(name, this.RULE(name, make()) as Rule);
  }

  private next(key: string): number {
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    return n;
  }

  private seq(parts: Part): () => void {
    const runs = parts.map((f) => this.one(f));
    if (runs.length === 1) return runs[0] as () => void;
    return () => {
      for (const r of runs) r();
    };
  }

  /** An OR over alternatives, tried in order; `ignoreAmbiguities` where a keyword is also a Name alternative. */
  private orOf(alts: readonly Part[], ignoreAmbiguities = false): () => void {
    const def: IOrAlt<unknown>[] = alts.map((a) => ({ ALT: this.seq(a) }));
    const i = this.next('or');
    const opts = ignoreAmbiguities ? { IGNORE_AMBIGUITIES: true, DEF: def } : def;
    return () => this.or(i, opts);
  }

  private one(f: Form | Extra): () => void {
    if (typeof f === 'string') {
      if (f === 'NAMES' || f === 'WORDS') return this.one({ rule: f === 'NAMES' ? 'nameList' : 'wordList' });
      const tok = VALUE_TOKENS[f];
      const i = this.next(tok.name);
      return () => this.consume(i, tok);
    }
    if ('kw' in f) {
      const tok = keywordType(f.kw);
      const i = this.next(tok.name);
      return () => this.consume(i, tok);
    }
    if ('rule' in f || 'body' in f) {
      const name = 'rule' in f ? f.rule : (BLOCKS[f.body].rules[0] as string);
      const i = this.next(`rule:${name}`);
      // Looked up when run: a block's rules may not be made yet (`on` nests product bodies).
      return () => this.subrule(i, this.rules.get(name) as Rule);
    }
    if ('opt' in f) {
      const inner = this.seq(f.opt);
      const i = this.next('option');
      return () => this.option(i, inner);
    }
    if ('some' in f) {
      const inner = this.seq(f.some);
      const i = this.next('atLeastOne');
      return () => this.atLeastOne(i, inner);
    }
    return this.orOf(f.or);
  }

  // Comma lists: `arch a, b`, `exclude a, "b"`.
  private nameList = this.RULE('nameList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME(Name) });
  });

  private wordListAlts = [{ ALT: () => this.CONSUME(Name) }, { ALT: () => this.CONSUME(StringLit) }];
  private wordList = this.RULE('wordList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.OR(this.wordListAlts) });
  });

  /** The rule that parses a whole file. */
  file(): CstNode {
    return (this.rules.get('file') as Rule).call(this);
  }
}

type Rule = ParserMethod<[], CstNode>;
/** Parts of a rule besides the table's forms: a sub-rule by name, a stray comma. */
type Extra = { rule: string } | 'COMMA';
type Part = readonly (Form | Extra)[];

const VALUE_TOKENS: Record<Exclude<Form | 'COMMA', object | 'NAMES' | 'WORDS'>, TokenType> = {
  NAME: Name,
  STRING: StringLit,
  INT: Integer,
  SIZE: Size,
  DURATION: Duration,
  REF: PackageRef,
  ARROW: Arrow,
  COMMA: Comma,
};

/** Rules whose statements become a statement's body in the AST; other sub-rules are arguments. */
export const isBlockRule = (name: string): boolean => name.endsWith('Body');

export type { CstNode, IToken, TokenType };

/** The first `{` that opens a block deeper than MAX_NESTING (only braces count). */
function firstTooDeep(tokens: readonly IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (t.tokenType === LCurly) {
      if (++depth > MAX_NESTING) return t;
    } else if (t.tokenType === RCurly && depth > 0) {
      depth--;
    }
  }
  return undefined;
}

/** One parser instance serves every parse (Chevrotain parsers are reusable and costly to build). */
let shared: RecipeParser | undefined;
export function recipeParser(): RecipeParser {
  return (shared ??= new RecipeParser());
}
