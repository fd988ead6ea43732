import fc from 'fast-check';
import licenseIds from 'spdx-license-ids/index.json';
import { canonicalize, parseSpdx, renderSpdx, type SpdxNode } from '../../licenses/spdx';

const canon = (text: string) => {
  const r = parseSpdx(text);
  if (!r.ok) throw new Error(`${text}: ${r.error}`);
  return renderSpdx(canonicalize(r.node));
};

describe('SPDX expression parser', () => {
  it.each([
    ['MIT', 'MIT'],
    ['mit', 'MIT'],
    ['GPL-2.0-only OR MIT', 'GPL-2.0-only OR MIT'],
    ['GPL-2.0+', 'GPL-2.0-or-later'],
    ['GPL-2.0', 'GPL-2.0-only'],
    ['LGPL-2.1+', 'LGPL-2.1-or-later'],
    ['GPL-2.0-or-later WITH Classpath-exception-2.0', 'GPL-2.0-or-later WITH Classpath-exception-2.0'],
    ['GPL-2.0-with-classpath-exception', 'GPL-2.0-only WITH Classpath-exception-2.0'],
    ['(MIT OR Apache-2.0) AND BSD-3-Clause', '(MIT OR Apache-2.0) AND BSD-3-Clause'],
    ['MIT OR Apache-2.0 AND BSD-3-Clause', 'MIT OR Apache-2.0 AND BSD-3-Clause'],
    ['((MIT))', 'MIT'],
    ['MIT AND MIT', 'MIT'],
    ['MIT AND (ISC AND Zlib)', 'MIT AND ISC AND Zlib'],
    ['mit and isc or zlib', 'MIT AND ISC OR Zlib'],
    ['LicenseRef-ALT-Public-Domain', 'LicenseRef-ALT-Public-Domain'],
    ['DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2', 'DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2'],
    ['MPL-1.1+', 'MPL-1.1+'],
  ])('%s → %s', (text, expected) => {
    expect(canon(text)).toBe(expected);
  });

  it('gives AND precedence over OR and WITH precedence over both', () => {
    const r = parseSpdx('MIT OR GPL-2.0-only WITH Classpath-exception-2.0 AND ISC');
    expect(r.ok && r.node).toEqual({
      type: 'or',
      args: [
        { type: 'license', id: 'MIT', plus: false },
        { type: 'and', args: [{ type: 'license', id: 'GPL-2.0-only', plus: false, exception: 'Classpath-exception-2.0' }, { type: 'license', id: 'ISC', plus: false }] },
      ],
    });
  });

  it.each([
    ['', 'empty expression'],
    ['MIT OR', 'expected a license'],
    ['(MIT', 'expected ")"'],
    ['MIT)', 'unexpected )'],
    ['GPLv2+', 'unknown SPDX license id "GPLv2"'],
    ['MIT WITH Nonsense-exception', 'unknown SPDX exception'],
    ['MIT And ISC', 'unexpected And'],
    ['LicenseRef-x+', '"+" applies to SPDX license ids'],
    ['MIT/X11', 'unexpected character "/"'],
  ])('rejects %j (%s)', (text, error) => {
    const r = parseSpdx(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(error);
  });

  it('reports where the error is', () => {
    const r = parseSpdx('MIT AND Foo-1.0');
    expect(r).toMatchObject({ ok: false, at: 8 });
  });

  it('round-trips: render(parse(render(x))) is render(x) for generated expressions', () => {
    const ids = fc.constantFrom(...licenseIds.filter((_, i) => i % 7 === 0), 'LicenseRef-ALT-Public-Domain');
    const leaf = fc.record({ id: ids, exception: fc.option(fc.constantFrom('Classpath-exception-2.0', 'GCC-exception-3.1', 'LLVM-exception'), { nil: undefined }) })
      .map(({ id, exception }): SpdxNode => (exception ? { type: 'license', id, plus: false, exception } : { type: 'license', id, plus: false }));
    const tree = fc.letrec<{ node: SpdxNode }>((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.record({ type: fc.constantFrom<'and' | 'or'>('and', 'or'), args: fc.array(tie('node'), { minLength: 2, maxLength: 3 }) })),
    })).node;
    fc.assert(fc.property(tree, (node) => {
      const text = renderSpdx(canonicalize(node));
      expect(canon(text)).toBe(text);
    }), { numRuns: 300 });
  });
});
