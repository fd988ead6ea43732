import { LEGACY_NAMES } from '../../licenses/legacy-names';
import { createNormalizer, legacyLookup, normalizeLicense } from '../../licenses/normalize';
import { canonicalize, parseSpdx, renderSpdx } from '../../licenses/spdx';

describe('the legacy name table', () => {
  it.each(LEGACY_NAMES.map((e) => [e.flavour, e.name, e.spdx] as const))('%s %j → %s round-trips through the SPDX parser', (flavour, name, spdx) => {
    const parsed = parseSpdx(spdx);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const canonical = renderSpdx(canonicalize(parsed.node));
    const reparsed = parseSpdx(canonical);
    expect(reparsed.ok && renderSpdx(canonicalize(reparsed.node))).toBe(canonical);
    for (const f of flavour === 'any' ? (['rpm', 'debian'] as const) : [flavour]) {
      expect(normalizeLicense(name, f)).toMatchObject({ expression: canonical, unknown: [] });
      expect(legacyLookup(name, f)).toBe(canonical);
    }
  });

  it('has no name twice within a flavour', () => {
    const seen = new Set<string>();
    for (const e of LEGACY_NAMES) {
      for (const f of e.flavour === 'any' ? ['rpm', 'debian'] : [e.flavour]) {
        const k = `${f}:${e.name.toLowerCase()}`;
        expect(seen.has(k)).toBe(false);
        seen.add(k);
      }
    }
  });
});

// License: tags of real ALT p10/p11 packages (as shipped in their spec files).
const ALT_SAMPLES: Array<[string, string]> = [
  ['GPLv2+', 'GPL-2.0-or-later'],
  ['GPLv2', 'GPL-2.0-only'],
  ['GPLv3+', 'GPL-3.0-or-later'],
  ['LGPLv2.1+', 'LGPL-2.1-or-later'],
  ['LGPLv2+', 'LGPL-2.0-or-later'],
  ['GPLv2+ and LGPLv2+', 'GPL-2.0-or-later AND LGPL-2.0-or-later'],
  ['GPLv2+ or Artistic', 'GPL-2.0-or-later OR Artistic-1.0-Perl'],
  ['GPL or Artistic', 'GPL-1.0-or-later OR Artistic-1.0-Perl'],
  ['BSD', 'BSD-3-Clause'],
  ['MIT/X11', 'MIT'],
  ['ALT-Public-Domain', 'LicenseRef-ALT-Public-Domain'],
  ['Public domain', 'LicenseRef-ALT-Public-Domain'],
  ['distributable', 'LicenseRef-distributable'],
  ['GPLv3+ and GFDLv1.3+', 'GPL-3.0-or-later AND GFDL-1.3-or-later'],
  ['LGPLv2+ and GPLv2+ and BSD', 'LGPL-2.0-or-later AND GPL-2.0-or-later AND BSD-3-Clause'],
  ['GPL-2.0-or-later', 'GPL-2.0-or-later'],
  ['MPLv2.0', 'MPL-2.0'],
  ['ASL 2.0', 'Apache-2.0'],
  ['zlib', 'Zlib'],
  ['GPL/BSD', 'GPL-1.0-or-later OR BSD-3-Clause'],
  ['LGPLv2.1+, GPLv2+', 'LGPL-2.1-or-later AND GPL-2.0-or-later'],
  ['(GPLv2+ or LGPLv3+) and MIT', '(GPL-2.0-or-later OR LGPL-3.0-or-later) AND MIT'],
  ['GPL version 2 or later', 'GPL-2.0-or-later'],
  ['Proprietary', 'LicenseRef-proprietary'],
];

// License: lines of real Debian bookworm copyright files (DEP-5).
const DEBIAN_SAMPLES: Array<[string, string]> = [
  ['GPL-2+', 'GPL-2.0-or-later'],
  ['GPL-2', 'GPL-2.0-only'],
  ['LGPL-2.1+', 'LGPL-2.1-or-later'],
  ['GPL-3+', 'GPL-3.0-or-later'],
  ['Expat', 'MIT'],
  ['BSD-3-clause', 'BSD-3-Clause'],
  ['BSD-2-clause', 'BSD-2-Clause'],
  ['Artistic', 'Artistic-1.0-Perl'],
  ['public-domain', 'LicenseRef-public-domain'],
  ['GPL-1+ or Artistic', 'GPL-1.0-or-later OR Artistic-1.0-Perl'],
  ['GPL-1+ or Artistic, and Unicode', '(GPL-1.0-or-later OR Artistic-1.0-Perl) AND Unicode-DFS-2016'],
  ['LGPL-3+ or GPL-2+', 'LGPL-3.0-or-later OR GPL-2.0-or-later'],
  ['GPL-3+ with Bison exception', 'GPL-3.0-or-later WITH Bison-exception-2.2'],
  ['GPL-3+ with autoconf exception', 'GPL-3.0-or-later WITH Autoconf-exception-3.0'],
  ['GPL-2+ with Texinfo exception', 'GPL-2.0-or-later WITH Texinfo-exception'],
  ['GPL-2 with Linux-syscall-note exception', 'GPL-2.0-only WITH Linux-syscall-note'],
  ['Apache-2', 'Apache-2.0'],
  ['ZLIB', 'Zlib'],
  ['CC0-1.0', 'CC0-1.0'],
  ['GFDL-NIV-1.3+', 'GFDL-1.3-no-invariants-or-later'],
  ['BSD-3-clause and/or GPL-3+', 'BSD-3-Clause AND GPL-3.0-or-later'],
  ['LGPL-2.0+', 'LGPL-2.0-or-later'],
  ['GPL-3+-WITH-BISON-EXCEPTION', 'GPL-3.0-or-later WITH Bison-exception-2.2'],
];

describe('normalisation', () => {
  it.each(ALT_SAMPLES)('ALT %j → %s', (declared, expected) => {
    expect(normalizeLicense(declared, 'rpm')).toMatchObject({ expression: expected, unknown: [] });
  });

  it.each(DEBIAN_SAMPLES)('Debian %j → %s', (declared, expected) => {
    expect(normalizeLicense(declared, 'debian')).toMatchObject({ expression: expected, unknown: [] });
  });

  it('keeps an unmapped name verbatim as LicenseRef-unknown-… and flags it', () => {
    expect(normalizeLicense('GPL-1+ or Artistic, and BSD-3-clause-GENERIC', 'debian')).toMatchObject({
      expression: '(GPL-1.0-or-later OR Artistic-1.0-Perl) AND LicenseRef-unknown-BSD-3-clause-GENERIC',
      unknown: ['BSD-3-clause-GENERIC'],
    });
    expect(normalizeLicense('Some Vendor EULA v3', 'rpm')).toMatchObject({ expression: 'LicenseRef-unknown-Some-Vendor-EULA-v3', unknown: ['Some Vendor EULA v3'] });
    // A name that merely contains "with" is a license of its own, not an exception.
    expect(normalizeLicense('BSD-3-clause-with-weird-numbering', 'debian').unknown).toEqual(['BSD-3-clause-with-weird-numbering']);
  });

  it('judges an exception SPDX does not list as its base license, with a note', () => {
    const n = normalizeLicense('GPL-2+ with distribution exception', 'debian');
    expect(n.expression).toBe('GPL-2.0-or-later');
    expect(n.notes[0]).toContain('distribution');
  });

  it('treats an empty declaration as unknown', () => {
    expect(normalizeLicense('(none)', 'rpm')).toMatchObject({ source: 'empty', unknown: ['(none)'] });
  });

  it('passes SPDX through as SPDX and caches repeated strings', () => {
    const n = createNormalizer('rpm');
    const a = n('GPL-2.0-or-later OR MIT');
    expect(a.source).toBe('spdx');
    expect(n('GPL-2.0-or-later OR MIT')).toBe(a);
  });
});

describe("Debian's dashed names (linux's, libnsl's copyright files)", () => {
  it.each([
    ['GPL-2+-or-X11', 'GPL-2.0-or-later OR X11'],
    ['GPL-2+-autoconf-exception', 'GPL-2.0-or-later WITH Autoconf-exception-2.0'],
    ['GPL-3+-autoconf-exception', 'GPL-3.0-or-later WITH Autoconf-exception-3.0'],
    ['GPL-2+-libtool-exception', 'GPL-2.0-or-later WITH Libtool-exception'],
  ])('%s is %s', (name, spdx) => {
    expect(normalizeLicense(name, 'debian')).toMatchObject({ expression: spdx, unknown: [] });
  });

  it.each(['GPL-2+-or-Frobnicate', 'Frobnicate-or-X11', 'GPL-2+-frobnicate-exception', 'same-as-rest-of-p11kit', 'GPL-2+-or-X11-or-MIT'])('%s stays unknown: not every part is a name we know', (name) => {
    expect(normalizeLicense(name, 'debian').unknown).toEqual([name]);
  });

  it("reads SPDX's deprecated BSD-2-Clause-NetBSD as the BSD-2-Clause text it is", () => {
    expect(normalizeLicense('BSD-2-clause-NetBSD', 'debian').expression).toBe('BSD-2-Clause');
    expect(normalizeLicense('BSD-2-Clause-NetBSD AND MIT', 'debian').expression).toBe('BSD-2-Clause AND MIT');
  });
});
