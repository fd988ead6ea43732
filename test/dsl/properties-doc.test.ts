// docs/language.md's statement reference is the property table's (dsl/properties/), row
// for row: this test generates the rows from the code and fails when the docs differ.
// To write them into the docs again: UPDATE_DOCS=1 npx jest test/dsl/properties-doc.test.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceTable } from '../../dsl/properties';
import { ROOT } from './helpers';

const DOC_PATH = join(ROOT, 'docs', 'language.md');
const BEGIN = /^<!-- statements:begin[^\n]*-->\n/m;
const END = /^<!-- statements:end -->$/m;

/** The docs with their generated section split out: before, the table, after. */
function split(doc: string): { before: string; table: string; after: string } {
  const b = BEGIN.exec(doc);
  const e = END.exec(doc);
  if (!b || !e || e.index < b.index) throw new Error('docs/language.md has no <!-- statements:begin --> ... <!-- statements:end --> section');
  const start = b.index + b[0].length;
  return { before: doc.slice(0, start), table: doc.slice(start, e.index), after: doc.slice(e.index) };
}

/** Rows the docs lack (`+`, from the code) and rows only the docs have (`-`); `(order)` when only the order differs. */
function differences(docTable: string): string[] {
  const code = referenceTable().split('\n');
  const docs = docTable.split('\n').filter((l) => l !== '');
  const out = [...code.filter((l) => !docs.includes(l)).map((l) => `+ ${l}`), ...docs.filter((l) => !code.includes(l)).map((l) => `- ${l}`)];
  if (out.length === 0 && code.join('\n') !== docs.join('\n')) out.push('(order)');
  return out;
}

const doc = readFileSync(DOC_PATH, 'utf8');

describe('the statement reference in docs/language.md', () => {
  it('is the property table', () => {
    const parts = split(doc);
    if (process.env.UPDATE_DOCS === '1') writeFileSync(DOC_PATH, `${parts.before}${referenceTable()}\n${parts.after}`);
    else expect(differences(parts.table)).toEqual([]);
  });

  it('tells a row that drifted from the code, and rows out of order', () => {
    const { table } = split(doc);
    const drifted = table.replace('| `title "TEMPLATE"` | product, variant |', '| `title "TEMPLATE"` | product, variant, `on` |');
    expect(differences(drifted)).toEqual([expect.stringMatching(/^\+ \| `title/), expect.stringMatching(/^- \| `title.*`on`/)]);
    const lines = table.split('\n');
    const swapped = [lines[0], lines[1], lines[3], lines[2], ...lines.slice(4)].join('\n');
    expect(differences(swapped)).toEqual(['(order)']);
  });
});
