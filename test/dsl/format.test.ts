// `fmt` is idempotent over every recipe in products/, keeps every comment, and changes
// nothing the compiler sees.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatRecipe } from '../../dsl/format';
import { parseRecipe } from '../../dsl/parse';
import { planJson, planProduct } from '../../dsl/planner';
import { compileText, productFiles, ROOT } from './helpers';

const shape = (text: string): unknown =>
  (parseRecipe('f.sborka', text).ast.statements.map(function clean(s): unknown {
    return { k: s.keyword, a: s.args.map((a) => (a.kind === 'list' ? a.items.map((i) => ('value' in i ? i.value : 'text' in i ? i.text : '')) : 'value' in a ? a.value : a.text)), b: s.body?.map(clean) };
  }));

describe('fmt', () => {
  for (const file of productFiles()) {
    it(`${file}: already canonical, idempotent, comments kept`, () => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const once = formatRecipe(file, text).text;
      expect(once).toBeDefined();
      expect(formatRecipe(file, once as string).text).toBe(once);
      expect(once).toBe(text); // products/ is kept formatted
      const comments = parseRecipe(file, text).ast.comments.map((c) => c.text.trimEnd());
      for (const c of comments) expect(once).toContain(c);
      expect(parseRecipe(file, once as string).ast.comments).toHaveLength(comments.length);
    });
  }

  it('normalises a messy recipe without changing its meaning or losing comments', () => {
    const messy = `# head
import   "b.sborka"
product   demo extends b{ # opening
 arch x86_64 ,aarch64   # trailing
       output    qcow2{size 20G}
  packages{ a  b exclude c,d # inside
  }
  title "tab\\there \\"quoted\\" \\u{e9}"


  # before on
  on aarch64{kernel un-def}
  # last in block
}
# tail
`;
    const b = 'product b {\n  branch p11\n  profile vm/regular-jeos-systemd\n}\n';
    const out = formatRecipe('a.sborka', messy).text as string;
    expect(out).toMatchSnapshot();
    expect(formatRecipe('a.sborka', out).text).toBe(out);
    for (const c of ['# head', '# opening', '# trailing', '# inside', '# before on', '# last in block', '# tail']) expect(out).toContain(c);
    expect(shape(out)).toEqual(shape(messy));
    const before = compileText({ 'a.sborka': messy, 'b.sborka': b });
    const after = compileText({ 'a.sborka': out, 'b.sborka': b });
    expect(before.diagnostics).toEqual([]);
    expect(planJson(planProduct(after, 'demo')).replace(/"recipeDigest": "\w+"/, '')).toBe(planJson(planProduct(before, 'demo')).replace(/"recipeDigest": "\w+"/, ''));
  });

  it('keeps a blank line between a comment block and the declaration after it', () => {
    const text = `# Header of the file: what these recipes are.
# Second line of the header.

import "b.sborka"

# A section heading.

# What the product is.
product demo {
  branch p11

  # a note about the packages

  packages {
    # heading inside a block

    nano
  }
}
`;
    const out = formatRecipe('a.sborka', text).text as string;
    expect(out).toBe(text);
    expect(formatRecipe('a.sborka', out).text).toBe(out);
    // More than one blank line is still one; no blank line stays no blank line.
    const squeezed = formatRecipe('a.sborka', text.replace('header.\n\n', 'header.\n\n\n\n').replace('packages\n\n', 'packages\n')).text;
    expect(squeezed).toBe(text.replace('packages\n\n', 'packages\n'));
  });

  it('refuses a file with syntax errors, saying where', () => {
    const r = formatRecipe('bad.sborka', 'product x {\n  arch\n');
    expect(r.text).toBeUndefined();
    expect(r.diagnostics.length).toBeGreaterThan(0);
  });
});
