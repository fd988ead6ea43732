// The dashboard's message table (service/dashboard/i18n.js) against the code that uses it:
// every entry has every language, the languages agree on their {placeholders}, every id the
// dashboard names exists, and ids built at run time ('state.' + s, 'action.' + a) exist for
// every value the API can send (taken from the API's own zod enums).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import ts from 'typescript';
import { BuildState } from '../../service/api/build-access';
import { BuildDetail } from '../../service/api/routes/builds';
import { Matrix } from '../../service/api/routes/matrix';
import { DASHBOARD_DIR } from '../../service/api/server';
import { ProductState, StepState, VariantState } from '../../workflows/status';

const DIR = path.join(__dirname, '../..', DASHBOARD_DIR);
type Table = Record<string, Record<string, string>>;

function loadTable(src: string): { langs: string[]; messages: Table } {
  const window: { SBORKA_LANGS?: string[]; SBORKA_MESSAGES?: Table } = {};
  vm.runInNewContext(src, { window });
  if (!window.SBORKA_LANGS || !window.SBORKA_MESSAGES) throw new Error('i18n.js sets no SBORKA_LANGS / SBORKA_MESSAGES');
  // Through JSON: objects from another vm context fail toEqual's prototype check.
  return JSON.parse(JSON.stringify({ langs: window.SBORKA_LANGS, messages: window.SBORKA_MESSAGES })) as { langs: string[]; messages: Table };
}

/** Entries lacking a language, or with one the dashboard doesn't offer, or whose placeholders differ. */
export function tableProblems(langs: readonly string[], messages: Table): string[] {
  const problems: string[] = [];
  const holes = (s: string | undefined) => [...(s ?? '').matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
  for (const [id, entry] of Object.entries(messages)) {
    for (const l of langs) if (!entry[l]?.trim()) problems.push(`${id}: no ${l} text`);
    for (const l of Object.keys(entry)) if (!langs.includes(l)) problems.push(`${id}: language ${l} is not offered`);
    const first = langs.find((l) => typeof entry[l] === 'string');
    for (const l of langs) {
      if (first && typeof entry[l] === 'string' && holes(entry[l]) !== holes(entry[first])) {
        problems.push(`${id}: placeholders {${holes(entry[l])}} in ${l} but {${holes(entry[first])}} in ${first}`);
      }
    }
  }
  return problems;
}

/** Run-time id families: prefix → the values the API can put after it. */
const bootTest = Matrix.shape.products.element.shape.cells.valueType.shape.latest.shape.bootTest.unwrap();
const FAMILIES: Record<string, readonly string[]> = {
  'state.': [...new Set([...BuildState.options, ...StepState.options, ...VariantState.options, ...ProductState.options, ...bootTest.options])],
  'action.': BuildDetail.shape.actions.element.options,
};

interface Use { id: string; where: string }
/**
 * Message ids a dashboard script names: arguments of t(...) and any string literal in a
 * namespace of the table ('nav.builds' kept in an array and passed on as t(k)). A t() argument
 * that is neither a literal, an identifier, nor 'family.' + expression is an error: the test
 * could not check it.
 */
export function idsUsed(file: string, src: string, namespaces: ReadonlySet<string>): { uses: Use[]; errors: string[] } {
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const uses: Use[] = [];
  const errors: string[] = [];
  const where = (n: ts.Node) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
    return `${file}:${line + 1}:${character + 1}`;
  };
  const visit = (n: ts.Node): void => {
    const a = ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 't' ? n.arguments[0] : undefined;
    if (a) {
      if (ts.isStringLiteral(a) || ts.isNoSubstitutionTemplateLiteral(a)) uses.push({ id: a.text, where: where(a) });
      else if (ts.isBinaryExpression(a) && a.operatorToken.kind === ts.SyntaxKind.PlusToken && ts.isStringLiteral(a.left)) {
        const values = FAMILIES[a.left.text];
        if (!values) errors.push(`${where(a)}: t('${a.left.text}' + …): no known values for this family (add it to FAMILIES from an API enum)`);
        else for (const v of values) uses.push({ id: a.left.text + v, where: where(a) });
      } else if (!ts.isIdentifier(a)) errors.push(`${where(a)}: t(${a.getText(sf)}): the message id cannot be checked`);
    } else if (ts.isStringLiteral(n) && namespaces.has(n.text.split('.')[0]!) && /^\w+(\.\w+)+$/.test(n.text)) {
      uses.push({ id: n.text, where: where(n) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { uses, errors };
}

const { langs, messages } = loadTable(fs.readFileSync(path.join(DIR, 'i18n.js'), 'utf8'));
const namespaces = new Set(Object.keys(messages).flatMap((id) => (id.includes('.') ? [id.split('.')[0]!] : [])));
const scripts = fs.readdirSync(DIR).filter((f) => f.endsWith('.js') && f !== 'i18n.js');

describe('dashboard messages', () => {
  it('gives every message every language, with the same placeholders', () => {
    expect(Object.keys(messages).length).toBeGreaterThan(100);
    expect(tableProblems(langs, messages)).toEqual([]);
  });

  it('offers in the language menu exactly the table\'s languages', () => {
    const html = fs.readFileSync(path.join(DIR, 'index.html'), 'utf8');
    const menu = /<select id="lang"[^>]*>([\s\S]*?)<\/select>/.exec(html)?.[1] ?? '';
    expect([...menu.matchAll(/value="(\w+)"/g)].map((m) => m[1])).toEqual(langs);
  });

  it('has an entry for every message id the dashboard uses', () => {
    expect(scripts).toContain('app.js');
    const missing: string[] = [];
    const errors: string[] = [];
    let count = 0;
    for (const f of scripts) {
      const r = idsUsed(f, fs.readFileSync(path.join(DIR, f), 'utf8'), namespaces);
      count += r.uses.length;
      errors.push(...r.errors);
      for (const u of r.uses) if (!Object.prototype.hasOwnProperty.call(messages, u.id)) missing.push(`${u.where}: ${u.id}`);
    }
    expect(errors).toEqual([]);
    expect(missing).toEqual([]);
    expect(count).toBeGreaterThan(100);
  });

  it('has no entry that nothing uses', () => {
    const used = new Set(scripts.flatMap((f) => idsUsed(f, fs.readFileSync(path.join(DIR, f), 'utf8'), namespaces).uses.map((u) => u.id)));
    expect(Object.keys(messages).filter((id) => !used.has(id))).toEqual([]);
  });
});

// The checks themselves must fail on the faults they exist for.
describe('the checks catch', () => {
  it('a message in one language only, an extra language and mismatched placeholders', () => {
    expect(tableProblems(['ru', 'en'], { a: { ru: 'а' }, b: { ru: 'б {n}', en: 'b {m}' }, c: { ru: 'в', en: 'c', de: 'c' }, d: { ru: 'г', en: ' ' } })).toEqual([
      'a: no en text', 'b: placeholders {m} in en but {n} in ru', 'c: language de is not offered', 'd: no en text']);
  });

  it('ids used but absent, unknown families and uncheckable ids', () => {
    const src = "t('nav.gone'); const k = ['nav.away'][0]; t(k); t('state.' + s); t('color.' + c); t(`x${y}`); store.getItem('sborka.lang');";
    const r = idsUsed('x.js', src, new Set(['nav', 'state']));
    expect(r.uses.map((u) => u.id)).toEqual(expect.arrayContaining(['nav.gone', 'nav.away', 'state.running', 'state.timed_out']));
    expect(r.uses.map((u) => u.id)).not.toContain('sborka.lang');
    expect(r.errors).toEqual([expect.stringContaining("x.js:1:68: t('color.' + …)"), expect.stringContaining('x.js:1:85: t(`x${y}`)')]);
  });
});
