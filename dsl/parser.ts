// The recipe grammar (Chevrotain, concrete syntax tree only; cst-to-ast.ts gives it meaning).
// Every statement is one rule alternative that starts with its keyword; blocks are their
// own rules, so the AST builder can read any statement as: keyword, arguments, block.
import { CstParser, EOF, tokenMatcher, type CstNode, type IRecognitionException, type IToken, type ITokenGrammarPath, type TokenType } from 'chevrotain';
import { allTokens, Arrow, Comma, Duration, Integer, K, LCurly, Name, PackageRef, RCurly, Size, StringLit } from './tokens';

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

  constructor() {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'none' });
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

  public file = this.RULE('file', () => {
    this.MANY(() =>
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.productDecl) },
        { ALT: () => this.SUBRULE(this.variantDecl) },
        { ALT: () => this.SUBRULE(this.policyDecl) },
        { ALT: () => this.SUBRULE(this.listDecl) },
      ]),
    );
  });

  private importDecl = this.RULE('importDecl', () => {
    this.CONSUME(K.import);
    this.CONSUME(StringLit);
  });

  private productDecl = this.RULE('productDecl', () => {
    this.CONSUME(K.product);
    this.CONSUME(Name);
    this.OPTION(() => {
      this.CONSUME(K.extends);
      this.CONSUME2(Name);
    });
    this.SUBRULE(this.productBody);
  });

  private variantDecl = this.RULE('variantDecl', () => {
    this.CONSUME(K.variant);
    this.CONSUME(Name);
    this.CONSUME(K.of);
    this.CONSUME2(Name);
    this.SUBRULE(this.productBody);
  });

  private policyDecl = this.RULE('policyDecl', () => {
    this.CONSUME(K.licensePolicy);
    this.CONSUME(Name);
    this.SUBRULE(this.policyBody);
  });

  private listDecl = this.RULE('listDecl', () => {
    this.CONSUME(K.packageList);
    this.CONSUME(Name);
    this.SUBRULE(this.packagesBody);
  });

  private productBody = this.RULE('productBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.productStmt));
    this.CONSUME(RCurly);
  });

  private nameList = this.RULE('nameList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME(Name) });
  });

  private wordList = this.RULE('wordList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.OR([{ ALT: () => this.CONSUME(Name) }, { ALT: () => this.CONSUME(StringLit) }]) });
  });

  private productStmt = this.RULE('productStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.title); this.consume(1, StringLit); } },
      { ALT: () => { this.CONSUME(K.version); this.OR2([{ ALT: () => this.consume(2, StringLit) }, { ALT: () => this.consume(1, Name) }]); } },
      { ALT: () => { this.CONSUME(K.branch); this.consume(2, Name); } },
      { ALT: () => { this.CONSUME(K.toolchain); this.consume(3, Name); } },
      { ALT: () => { this.CONSUME(K.arch); this.subrule(1, this.nameList); } },
      { ALT: () => { this.CONSUME(K.kernel); this.subrule(2, this.nameList); } },
      { ALT: () => { this.CONSUME(K.profile); this.consume(4, Name); } },
      { ALT: () => { this.CONSUME(K.packages); this.subrule(1, this.packagesBody); } },
      { ALT: () => { this.CONSUME(K.repo); this.consume(5, Name); this.consume(3, StringLit); this.option(1, () => this.SUBRULE(this.repoBody)); } },
      { ALT: () => { this.CONSUME(K.settings); this.SUBRULE(this.settingsBody); } },
      { ALT: () => { this.CONSUME(K.files); this.consume(4, StringLit); this.CONSUME(Arrow); this.consume(5, StringLit); } },
      { ALT: () => { this.CONSUME(K.sources); this.consume(12, StringLit); } },
      { ALT: () => { this.CONSUME(K.profilesTree); this.consume(13, StringLit); } },
      { ALT: () => {
        this.CONSUME(K.script);
        this.consume(6, Name);
        this.consume(6, StringLit);
        this.option(2, () => this.CONSUME(K.inline));
        this.consume(7, StringLit);
      } },
      { ALT: () => { this.CONSUME(K.output); this.consume(7, Name); this.option(3, () => this.SUBRULE(this.outputBody)); } },
      { ALT: () => { this.CONSUME(K.on); this.subrule(3, this.nameList); this.subrule(4, this.productBody); } },
      { ALT: () => { this.CONSUME(K.license); this.CONSUME(K.policy); this.consume(8, Name); } },
      { ALT: () => { this.CONSUME(K.emulate); this.CONSUME(K.after); this.CONSUME(Duration); } },
      { ALT: () => {
        this.CONSUME(K.test);
        this.OR3([
          { ALT: () => { this.CONSUME(K.boot); this.option(4, () => this.subrule(1, this.testBody)); } },
          { ALT: () => {
            this.CONSUME(K.run);
            this.AT_LEAST_ONE(() => this.consume(8, StringLit));
            this.option(5, () => this.subrule(2, this.testBody));
          } },
          { ALT: () => this.CONSUME(K.reproducible) },
        ]);
      } },
      { ALT: () => {
        this.CONSUME(K.publish);
        this.consume(9, Name);
        this.consume(9, StringLit);
        this.option(8, () => { this.CONSUME(K.keep); this.CONSUME(Integer); });
      } },
      { ALT: () => this.subrule(1, this.waiver) },
      { ALT: () => {
        this.CONSUME(K.schedule);
        this.option(6, () => this.consume(10, Name));
        this.consume(10, StringLit);
        this.option(7, () => { this.CONSUME(K.timezone); this.consume(11, StringLit); });
      } },
      { ALT: () => {
        this.CONSUME(K.owner);
        this.OR4([
          { ALT: () => this.CONSUME(K.community) },
          { ALT: () => { this.CONSUME(K.maintainer); this.consume(11, Name); } },
          { ALT: () => { this.CONSUME(K.partner); this.consume(12, Name); } },
        ]);
      } },
    ]);
  });

  private packagesBody = this.RULE('packagesBody', () => {
    this.CONSUME(LCurly);
    // Commas between packages are taken here so that `a, b, c` is one diagnostic (the AST
    // builder's), not one syntax error and one recovery per comma.
    this.MANY(() => this.OR([{ ALT: () => this.SUBRULE(this.packagesItem) }, { ALT: () => this.CONSUME(Comma) }]));
    this.CONSUME(RCurly);
  });

  private packagesItem = this.RULE('packagesItem', () => {
    this.OR({
      // `exclude` is also a Name; trying it first is what makes it a keyword here.
      IGNORE_AMBIGUITIES: true,
      DEF: [
        { ALT: () => { this.CONSUME(K.exclude); this.SUBRULE(this.wordList); } },
        { ALT: () => this.CONSUME(PackageRef) },
        { ALT: () => this.CONSUME(Name) },
        { ALT: () => this.CONSUME(StringLit) },
      ],
    });
  });

  private repoBody = this.RULE('repoBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.repoStmt));
    this.CONSUME(RCurly);
  });

  private repoStmt = this.RULE('repoStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.suite); this.CONSUME(Name); } },
      { ALT: () => { this.CONSUME(K.components); this.SUBRULE(this.nameList); } },
      { ALT: () => { this.CONSUME(K.key); this.CONSUME(StringLit); } },
    ]);
  });

  private settingsBody = this.RULE('settingsBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.settingsStmt));
    this.CONSUME(RCurly);
  });

  private settingsStmt = this.RULE('settingsStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.locale); this.consume(1, StringLit); } },
      { ALT: () => { this.CONSUME(K.timezone); this.consume(2, StringLit); } },
      { ALT: () => { this.CONSUME(K.hostname); this.consume(3, StringLit); } },
      { ALT: () => { this.CONSUME(K.keyboard); this.consume(4, StringLit); } },
      { ALT: () => { this.CONSUME(K.rootPassword); this.consume(5, StringLit); } },
      { ALT: () => { this.CONSUME(K.user); this.CONSUME(Name); this.OPTION(() => this.SUBRULE(this.userBody)); } },
      { ALT: () => { this.CONSUME(K.services); this.SUBRULE(this.servicesBody); } },
    ]);
  });

  private userBody = this.RULE('userBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.userStmt));
    this.CONSUME(RCurly);
  });

  private userStmt = this.RULE('userStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.groups); this.SUBRULE(this.nameList); } },
      { ALT: () => { this.CONSUME(K.password); this.consume(1, StringLit); } },
      { ALT: () => { this.CONSUME(K.shell); this.consume(2, StringLit); } },
      { ALT: () => { this.CONSUME(K.uid); this.CONSUME(Integer); } },
    ]);
  });

  private servicesBody = this.RULE('servicesBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.servicesStmt));
    this.CONSUME(RCurly);
  });

  private servicesStmt = this.RULE('servicesStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.enable); this.subrule(1, this.nameList); } },
      { ALT: () => { this.CONSUME(K.disable); this.subrule(2, this.nameList); } },
    ]);
  });

  private outputBody = this.RULE('outputBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.outputStmt));
    this.CONSUME(RCurly);
  });

  private outputStmt = this.RULE('outputStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.size); this.CONSUME(Size); } },
      { ALT: () => { this.CONSUME(K.tag); this.CONSUME(StringLit); } },
      { ALT: () => { this.CONSUME(K.compression); this.CONSUME(Name); } },
      { ALT: () => { this.CONSUME(K.label); this.CONSUME2(StringLit); } },
      { ALT: () => { this.CONSUME(K.profile); this.CONSUME2(Name); } },
    ]);
  });

  private testBody = this.RULE('testBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.testStmt));
    this.CONSUME(RCurly);
  });

  private testStmt = this.RULE('testStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.timeout); this.CONSUME(Duration); } },
      { ALT: () => { this.CONSUME(K.expect); this.consume(1, StringLit); } },
      { ALT: () => { this.CONSUME(K.exit); this.CONSUME(Integer); } },
      { ALT: () => { this.CONSUME(K.output); this.consume(2, StringLit); } },
    ]);
  });

  private policyBody = this.RULE('policyBody', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.policyStmt));
    this.CONSUME(RCurly);
  });

  private policyStmt = this.RULE('policyStmt', () => {
    this.OR([
      { ALT: () => { this.CONSUME(K.allow); this.subrule(1, this.nameList); } },
      { ALT: () => { this.CONSUME(K.review); this.subrule(2, this.nameList); } },
      { ALT: () => { this.CONSUME(K.deny); this.subrule(3, this.nameList); } },
      { ALT: () => { this.CONSUME(K.unknown); this.CONSUME(Name); } },
      { ALT: () => this.SUBRULE(this.waiver) },
    ]);
  });

  /** `waive PACKAGE owner "WHO" reason "WHY" until YYYY-MM-DD`, in policies, products and variants. */
  private waiver = this.RULE('waiver', () => {
    this.CONSUME(K.waive);
    // A quoted name is taken too, so that `"bad name"` gets the package-name diagnostic.
    this.OR([{ ALT: () => this.CONSUME(Name) }, { ALT: () => this.CONSUME(StringLit) }]);
    this.CONSUME(K.owner);
    this.CONSUME2(StringLit);
    this.CONSUME(K.reason);
    this.CONSUME3(StringLit);
    this.CONSUME(K.until);
    this.CONSUME2(Name);
  });
}

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
