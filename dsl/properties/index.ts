// The recipe language's property table: every statement once, in the order the reference
// lists them. The keywords and the grammar are made from it (tokens.ts, parser.ts: a row's
// `form` is what the parser reads after its keyword); the resolver applies them through it;
// the checker's duplicate, `on` and unknown-statement errors come from it; the formatter asks
// it which statements stay together; and docs/language.md's statement reference is generated
// from it (its test fails when the two differ).
import { BLOCKS } from './apply';
import { CONTENT, PACKAGE_ITEMS, REPO_OPTIONS } from './content';
import { FILE_STATEMENTS, POLICY_RULES } from './file';
import { GOVERNANCE, IDENTITY, ON } from './product';
import { OUTPUT, OUTPUT_OPTION_ROWS } from './output';
import { SERVICE_OPTIONS, SETTINGS, SETTINGS_OPTIONS, USER_OPTIONS } from './settings';
import { CHECKS, TEST_OPTIONS } from './tests';
import type { Draft } from '../draft';
import { closest } from '../suggest';
import { type AnyProperty, type Block, type Form, MERGES, type Property } from './types';

export { applyBlock, BLOCKS, checkTwice, rowOf } from './apply';
export { applyPackages } from './content';
export { STRING_SETTING_FIELDS } from './settings';
export { DECLARATION_KINDS, type DeclarationKind, FILE_STATEMENTS, POLICY_RULES } from './file';
export { readWaiver } from './product';
export type { AnyProperty, Block, Ctx, Form, Merge, Property } from './types';

/** What a product's (or variant's) body may hold. */
export const PRODUCT_PROPERTIES: readonly Property<Draft>[] = [...IDENTITY, ...CONTENT, SETTINGS, OUTPUT, ON, ...GOVERNANCE, ...CHECKS];

/** Every statement of the language, block by block. */
export const PROPERTIES: readonly AnyProperty[] = [
  ...FILE_STATEMENTS,
  ...PRODUCT_PROPERTIES,
  ...PACKAGE_ITEMS,
  ...REPO_OPTIONS,
  ...SETTINGS_OPTIONS,
  ...USER_OPTIONS,
  ...SERVICE_OPTIONS,
  ...OUTPUT_OPTION_ROWS,
  ...TEST_OPTIONS,
  ...POLICY_RULES,
];

/** Every word that is a keyword somewhere: each row's, and those its form names (`extends`, `policy`, ...), in the table's order. */
export const KEYWORD_WORDS: readonly string[] = (() => {
  const words = new Set<string>();
  const walk = (forms: readonly Form[]): void => {
    for (const f of forms) {
      if (typeof f === 'string' || 'body' in f) continue;
      if ('kw' in f) words.add(f.kw);
      else if ('opt' in f) walk(f.opt);
      else if ('some' in f) walk(f.some);
      else for (const alt of f.or) walk(alt);
    }
  };
  for (const p of PROPERTIES) {
    if (p.keyword !== '') words.add(p.keyword);
    walk(p.form);
  }
  return [...words];
})();

/** The block whose statements a parser rule reads (`settingsBody` → settings). */
export function blockOfRule(rule: string): Block | undefined {
  return (Object.keys(BLOCKS) as Block[]).find((b) => BLOCKS[b].rules.includes(rule));
}

/** Does `word` start a statement of `block`? */
export function isStatementOf(block: Block, word: string): boolean {
  return PROPERTIES.some((p) => p.block === block && p.keyword === word);
}

/** The keywords that start a declaration or an import, in the table's order. */
export const TOP_LEVEL_KEYWORDS: readonly string[] = FILE_STATEMENTS.map((p) => p.keyword);

/** Is a run of statements with this keyword kept together by the formatter? */
export function keptTogether(keyword: string): boolean {
  return PROPERTIES.some((p) => p.keyword === keyword && p.block === 'file' && p.tight === true);
}

/** Where a block's statements stand, in a hint's words. */
function standsIn(block: Block): string {
  if (block === 'file') return 'at the top of a file';
  if (block === 'product') return 'in a product or variant';
  return `in \`${block === 'license-policy' ? 'license-policy NAME' : block} { }\``;
}

/**
 * A word where a statement of `block` should start but none does: the message, and a hint
 * naming the closest statement of that block, or else where the word (or the closest
 * statement of any block) stands.
 */
export function unknownStatement(word: string, block: Block | undefined): { message: string; hint?: string } {
  // A broken file asks for the same few words again and again; each answer is a few edit distances.
  const key = `${block ?? ''}\0${word}`;
  let known = unknownAnswers.get(key);
  if (!known) {
    if (unknownAnswers.size >= 10_000) unknownAnswers.clear();
    known = unknownStatementUncached(word, block);
    unknownAnswers.set(key, known);
  }
  return known;
}

const unknownAnswers = new Map<string, { message: string; hint?: string }>();

function unknownStatementUncached(word: string, block: Block | undefined): { message: string; hint?: string } {
  const message = `\`${word}\` is not a ${block ? BLOCKS[block].noun : 'statement'} here`;
  const statements = PROPERTIES.filter((p) => p.keyword !== '');
  const near = closest(word, statements.filter((p) => block === undefined || p.block === block).map((p) => p.keyword));
  if (near) return { message, hint: `did you mean \`${near}\`?` };
  const same = statements.find((p) => p.keyword === word && p.block !== block);
  if (same) return { message, hint: `\`${word}\` stands ${standsIn(same.block)}` };
  const other = closest(word, statements.map((p) => p.keyword));
  const row = statements.find((p) => p.keyword === other);
  return row ? { message, hint: `did you mean \`${row.keyword}\`? (it stands ${standsIn(row.block)})` } : { message };
}

const PLACE: Record<Block, string> = {
  file: 'file',
  product: 'product, variant',
  packages: '`packages`, `package-list`',
  repo: '`repo`',
  settings: '`settings`',
  user: '`user`',
  services: '`services`',
  output: '`output`',
  test: '`test`',
  'license-policy': '`license-policy`',
};

/** docs/language.md's statement reference, one row per statement (test/dsl/properties-doc.test.ts). */
export function referenceTable(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = PROPERTIES.map((p) => {
    const where = PLACE[p.block] + (p.block === 'product' ? (p.inOn === false ? '' : ', `on`') : '') + (p.only ? ` (${p.only.map((k) => `\`${k}\``).join(', ')})` : '');
    return `| \`${cell(p.syntax)}\` | ${where} | ${cell(MERGES[p.merge])} | ${p.toolchains.join(', ')} | ${cell(p.doc)} |`;
  });
  return ['| Statement | Stands in | Merges | Toolchains | What it does |', '|---|---|---|---|---|', ...rows].join('\n');
}
