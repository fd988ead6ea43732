// The property table (dsl/properties/) against the grammar and the checker: every row's
// statement parses where the row says it stands and nowhere else the grammar would take a
// keyword; scalars set twice, statements set per arch where they cannot be, and statements
// in the wrong block are reported from the rows.
import { compileText } from './helpers';
import { parseRecipe } from '../../dsl/parse';
import { type AnyProperty, type Block, DECLARATION_KINDS, FILE_STATEMENTS, PROPERTIES } from '../../dsl/properties';
import { KEYWORDS } from '../../dsl/tokens';

/** One statement of each row, as it would be written. */
const SAMPLES: Record<string, string> = {
  'file import': 'import "other.sborka"', 'file product': 'product q {}', 'file variant': 'variant v of q {}',
  'file license-policy': 'license-policy l {}', 'file package-list': 'package-list k {}',
  'product title': 'title "T"', 'product version': 'version "1"', 'product branch': 'branch p11', 'product toolchain': 'toolchain alt',
  'product arch': 'arch x86_64', 'product kernel': 'kernel std-def', 'product profile': 'profile distro/x', 'product packages': 'packages {}',
  'product repo': 'repo r "https://repo.example"', 'product sources': 'sources "s"', 'product files': 'files "a" -> "/b"',
  'product script': 'script post-install "/bin/sh" "s.sh"', 'product settings': 'settings {}', 'product output': 'output iso',
  'product on': 'on x86_64 {}', 'product license': 'license policy l', 'product waive': 'waive a owner "o" reason "r" until 2030-01-01',
  'product emulate': 'emulate after 1m', 'product schedule': 'schedule "0 2 * * *"', 'product owner': 'owner community',
  'product test': 'test reproducible', 'product publish': 'publish files "/srv"',
  'packages ': 'acme-agent', 'packages exclude': 'exclude nano',
  'repo suite': 'suite p11', 'repo components': 'components main', 'repo key': 'key "k.asc"',
  'settings locale': 'locale "C"', 'settings timezone': 'timezone "UTC"', 'settings hostname': 'hostname "h"', 'settings keyboard': 'keyboard "us"',
  'settings root-password': 'root-password "!"', 'settings user': 'user u', 'settings services': 'services {}',
  'user groups': 'groups wheel', 'user password': 'password "!"', 'user shell': 'shell "/bin/sh"', 'user uid': 'uid 1001',
  'services enable': 'enable sshd', 'services disable': 'disable sshd',
  'output size': 'size 1G', 'output tag': 'tag "t"', 'output compression': 'compression xz', 'output label': 'label "L"', 'output profile': 'profile vm/regular-systemd', 'output secure-boot': 'secure-boot on', 'product profiles-tree': 'profiles-tree "profiles/fork"',
  'test timeout': 'timeout 1m', 'test expect': 'expect "x"', 'test exit': 'exit 0', 'test output': 'output "x"',
  'license-policy allow': 'allow MIT', 'license-policy review': 'review MIT', 'license-policy deny': 'deny MIT',
  'license-policy unknown': 'unknown deny', 'license-policy waive': 'waive a owner "o" reason "r" until 2030-01-01',
};
const OUTPUT_OF: Record<string, string> = { size: 'qcow2', tag: 'oci', compression: 'tar', label: 'iso', profile: 'qcow2', 'secure-boot': 'qcow2' };

const sample = (p: AnyProperty): string => {
  const s = SAMPLES[`${p.block} ${p.keyword}`];
  if (s === undefined) throw new Error(`no sample for ${p.block} ${p.keyword}`);
  return s;
};

/** A recipe with `lines` in a block of `block`, and the line the first of them is on. */
function inBlock(block: Block, lines: string[], row?: AnyProperty): { text: string; line: number } {
  const body = (indent: string): string => lines.map((l) => `${indent}${l}\n`).join('');
  switch (block) {
    case 'file': return { text: body(''), line: 1 };
    case 'product': return { text: `product p {\n${body('  ')}}\n`, line: 2 };
    case 'packages': return { text: `product p {\n  packages {\n${body('    ')}  }\n}\n`, line: 3 };
    case 'repo': return { text: `product p {\n  repo r "https://repo.example" {\n${body('    ')}  }\n}\n`, line: 3 };
    case 'settings': return { text: `product p {\n  settings {\n${body('    ')}  }\n}\n`, line: 3 };
    case 'user': return { text: `product p {\n  settings {\n    user u {\n${body('      ')}    }\n  }\n}\n`, line: 4 };
    case 'services': return { text: `product p {\n  settings {\n    services {\n${body('      ')}    }\n  }\n}\n`, line: 4 };
    case 'output': return { text: `product p {\n  output ${OUTPUT_OF[row?.keyword ?? ''] ?? 'qcow2'} {\n${body('    ')}  }\n}\n`, line: 3 };
    case 'test': return { text: `product p {\n  test ${row?.only?.[0] === 'run' ? 'run "true"' : 'boot'} {\n${body('    ')}  }\n}\n`, line: 3 };
    case 'license-policy': return { text: `license-policy l {\n${body('  ')}}\n`, line: 2 };
  }
}

const errorsOf = (text: string) => parseRecipe('p.sborka', text).sink.items.filter((d) => d.severity === 'error');
const compiled = (text: string) => compileText({ 'p.sborka': text, 'other.sborka': '' }).diagnostics;

describe('the property table', () => {
  it('declares each statement once per block, with a keyword the lexer knows', () => {
    const keys = PROPERTIES.map((p) => `${p.block} ${p.keyword}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    expect(PROPERTIES.filter((p) => p.keyword !== '' && !KEYWORDS.has(p.keyword)).map((p) => p.keyword)).toEqual([]);
    expect(PROPERTIES.filter((p) => p.syntax.split(' ')[0] !== (p.keyword || 'NAME')).map((p) => p.syntax)).toEqual([]);
    expect(FILE_STATEMENTS.filter((p) => p.merge === 'declaration').map((p) => p.keyword)).toEqual([...DECLARATION_KINDS]);
  });

  it('keeps the language as docs/language.md describes it: which properties are scalars, which cannot be set per arch', () => {
    const product = PROPERTIES.filter((p) => p.block === 'product');
    expect(product.filter((p) => p.merge === 'scalar').map((p) => p.keyword).sort()).toEqual(['branch', 'emulate', 'kernel', 'license', 'owner', 'profile', 'profiles-tree', 'schedule', 'title', 'toolchain', 'version']);
    expect(product.filter((p) => p.inOn === false).map((p) => p.keyword).sort()).toEqual(['arch', 'on', 'owner', 'profiles-tree', 'schedule', 'title', 'toolchain', 'version']);
    expect(PROPERTIES.filter((p) => p.block === 'settings' && p.merge === 'scalar').map((p) => p.keyword)).toEqual(['locale', 'timezone', 'hostname', 'keyboard', 'root-password']);
  });

  it('has an apply function for every statement the resolver applies', () => {
    const readElsewhere: Block[] = ['file', 'test', 'license-policy'];
    expect(PROPERTIES.filter((p) => !readElsewhere.includes(p.block) && !p.apply).map((p) => `${p.block} ${p.keyword}`)).toEqual([]);
  });

  for (const p of PROPERTIES) {
    it(`${p.block} \`${p.keyword || 'NAME'}\` parses where the table says it stands`, () => {
      expect(errorsOf(inBlock(p.block, [sample(p)], p).text)).toEqual([]);
    });
  }

  it('holds every statement of the grammar: no other keyword starts one in any block', () => {
    const inTable = new Set(PROPERTIES.map((p) => `${p.block} ${p.keyword}`));
    const blocks: Block[] = ['file', 'product', 'repo', 'settings', 'user', 'services', 'output', 'test', 'license-policy'];
    const missing: string[] = [];
    for (const block of blocks) {
      for (const word of KEYWORDS) {
        if (inTable.has(`${block} ${word}`)) continue;
        const { text, line } = inBlock(block, [word]);
        // Were it a statement there, the parser would complain about what follows it, not about the word.
        if (!errorsOf(text).some((d) => d.line === line && d.col === (block === 'file' ? 1 : text.split('\n')[line - 1]!.indexOf(word) + 1))) missing.push(`${block} ${word}`);
      }
    }
    expect(missing).toEqual([]);
  });

  for (const p of PROPERTIES.filter((x) => x.block !== 'file')) {
    const twice = p.merge === 'scalar';
    it(`${p.block} \`${p.keyword || 'NAME'}\` set twice in one block is ${twice ? '' : 'not '}a duplicate-property`, () => {
      const { text, line } = inBlock(p.block, [sample(p), sample(p)], p);
      const dups = compiled(text).filter((d) => d.code === 'duplicate-property');
      expect(dups.map((d) => d.line)).toEqual(twice ? [line + 1] : []);
    });
  }

  for (const p of PROPERTIES.filter((x) => x.block === 'product')) {
    it(`\`${p.keyword}\` ${p.inOn === false ? 'cannot' : 'can'} be set in an \`on\` block`, () => {
      const text = `product p {\n  arch x86_64\n\n  on x86_64 {\n    ${sample(p)}\n  }\n}\n`;
      const codes = compiled(text).filter((d) => d.code === 'not-allowed-in-on').map((d) => `${d.line}:${d.col}`);
      expect(codes).toEqual(p.inOn === false ? ['5:5'] : []);
    });
  }

  it('says where a statement in the wrong block stands, and suggests the block\'s own statements first', () => {
    const at = (block: Block, line: string) => errorsOf(inBlock(block, [line]).text)[0];
    expect(at('product', 'locale "C"')).toMatchObject({ code: 'unknown-statement', message: '`locale` is not a product property here', hint: '`locale` stands in `settings { }`' });
    expect(at('settings', 'title "T"')).toMatchObject({ code: 'unknown-statement', message: '`title` is not a setting here', hint: '`title` stands in a product or variant' });
    expect(at('product', 'locle "C"')).toMatchObject({ code: 'unknown-statement', hint: 'did you mean `locale`? (it stands in `settings { }`)' });
    expect(at('output', 'sise 1G')).toMatchObject({ code: 'unknown-statement', message: '`sise` is not a output option here', hint: 'did you mean `size`?' });
    expect(at('product', 'archh x86_64')).toMatchObject({ code: 'unknown-statement', hint: 'did you mean `arch`?' });
  });
});
