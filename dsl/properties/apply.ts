// Applying a block of statements through its rows: duplicates of scalars and statements
// that cannot stand in an `on` block are reported here, from the rows, for every block.
import { argText, type Arg, type Stmt } from '../ast';
import type { At } from '../draft';
import type { Block, Ctx, Property } from './types';

interface BlockInfo {
  /** What one of its statements is called, in "`x` is not a … here". */
  noun: string;
  /** The parser's rules for the block and its statements (parser.ts makes them by these names). */
  rules: readonly string[];
  /** Commas between statements are taken, for one diagnostic a block (cst-to-ast.ts), not a syntax error each. */
  commas?: boolean;
  /** How a scalar set twice is reported: "set twice in this …", and whether the hint points at the first. */
  twiceIn: 'block' | 'test';
  pointAtFirst: boolean;
}

export const BLOCKS: Record<Block, BlockInfo> = {
  file: { noun: 'declaration', rules: ['file'], twiceIn: 'block', pointAtFirst: true },
  product: { noun: 'product property', rules: ['productBody', 'productStmt'], twiceIn: 'block', pointAtFirst: true },
  packages: { noun: 'package', rules: ['packagesBody', 'packagesItem'], twiceIn: 'block', pointAtFirst: true, commas: true },
  repo: { noun: 'repository option', rules: ['repoBody', 'repoStmt'], twiceIn: 'block', pointAtFirst: true },
  settings: { noun: 'setting', rules: ['settingsBody', 'settingsStmt'], twiceIn: 'block', pointAtFirst: false },
  user: { noun: 'user property', rules: ['userBody', 'userStmt'], twiceIn: 'block', pointAtFirst: true },
  services: { noun: '`enable` or `disable`', rules: ['servicesBody', 'servicesStmt'], twiceIn: 'block', pointAtFirst: true },
  output: { noun: 'output option', rules: ['outputBody', 'outputStmt'], twiceIn: 'block', pointAtFirst: true },
  test: { noun: 'test option', rules: ['testBody', 'testStmt'], twiceIn: 'test', pointAtFirst: false },
  'license-policy': { noun: 'policy rule', rules: ['policyBody', 'policyStmt'], twiceIn: 'block', pointAtFirst: true },
};

const byKeyword = new WeakMap<readonly Property<never>[], Map<string, Property<never>>>();

/** The row of `keyword` among `rows`. */
export function rowOf<T>(rows: readonly Property<T>[], keyword: string): Property<T> | undefined {
  let m = byKeyword.get(rows);
  if (!m) {
    m = new Map(rows.map((r) => [r.keyword, r]));
    byKeyword.set(rows, m);
  }
  return m.get(keyword) as Property<T> | undefined;
}

/** Scalars met so far in one block; reports the second of a keyword. */
class Twice {
  private readonly seen = new Map<string, Stmt>();

  constructor(private readonly ctx: Pick<Ctx, 'err'>, private readonly block: Block) {}

  check(s: Stmt, row: Property<never> | undefined): void {
    if (row?.merge !== 'scalar') return;
    const first = this.seen.get(s.keyword);
    if (!first) {
      this.seen.set(s.keyword, s);
      return;
    }
    const info = BLOCKS[this.block];
    const hint = info.pointAtFirst ? `the first is at line ${first.keywordSpan.line}; keep one` : undefined;
    this.ctx.err('duplicate-property', `\`${s.keyword}\` is set twice in this ${info.twiceIn}`, s.keywordSpan, hint);
  }
}

/** Reports every scalar set twice in a block whose statements are not applied one by one (a test's options). */
export function checkTwice<T>(ctx: Pick<Ctx, 'err'>, rows: readonly Property<T>[], block: Block, body: readonly Stmt[]): void {
  const twice = new Twice(ctx, block);
  for (const s of body) twice.check(s, rowOf(rows, s.keyword));
}

/**
 * Applies a block's statements onto \`target\`, in order, each by its row. In an \`on\` block a
 * statement whose row says it cannot stand there is reported and skipped.
 */
export function applyBlock<T>(ctx: Ctx, rows: readonly Property<T>[], block: Block, target: T, body: readonly Stmt[], inOn = false): void {
  const twice = new Twice(ctx, block);
  for (const s of body) {
    const row = rowOf(rows, s.keyword);
    twice.check(s, row);
    // The grammar lets only the block's own statements through.
    if (!row) continue;
    if (inOn && row.inOn === false) {
      ctx.err('not-allowed-in-on', `\`${s.keyword}\` cannot be set per architecture`, s.keywordSpan, 'move it out of the `on` block');
      continue;
    }
    row.apply?.(ctx, target, s);
  }
}

/** A name's or string's text with its span. */
export function atString(a: Arg | undefined): At<string> | undefined {
  const t = argText(a);
  return a && t !== undefined ? { value: t, span: a.span } : undefined;
}
