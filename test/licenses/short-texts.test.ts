// Short license texts Debian names its own way (texts as in bookworm's copyright files):
// matched by their word diff when a changed name costs too many bigrams, never when a word
// that sets a condition differs; public-domain dedications; GFDL grants without invariants.
import { gfdlWithoutInvariants } from '../../licenses/debian';
import { identifyLicenseText, normalizeLicenseText, PUBLIC_DOMAIN } from '../../licenses/text-match';

const G10 = `This file is free software; as a special exception the author gives
unlimited permission to copy and/or distribute it, with or without
modifications, as long as this notice is preserved.

This file is distributed in the hope that it will be useful, but
WITHOUT ANY WARRANTY, to the extent permitted by law; without even the
implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.`;

// libip4tc2's "custom": ISC with "the author" for "ISC", "and" for "and/or", cut short as in the file.
const CUSTOM = `Permission to use, copy, modify, and distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF`;

describe('short texts', () => {
  it('maps g10-permissive to FSFULLRWD and libip4tc2\'s "custom" to ISC', () => {
    expect(identifyLicenseText(G10, 'g10-permissive')?.id).toBe('FSFULLRWD');
    expect(identifyLicenseText(CUSTOM, 'custom')?.id).toBe('ISC');
  });

  it('keeps a wrapped clause that starts with "copyright": it is a condition, not a notice', () => {
    const words = normalizeLicenseText(CUSTOM);
    expect(words.join(' ')).toContain('provided that the above copyright notice and this permission notice appear in all copies');
    expect(normalizeLicenseText('Copyright (C) 2004 Someone\nCopyright 1999 by X\ncopyright notice stays')).toEqual(['copyright', 'notice', 'stays']);
    // Without its condition the text is 0BSD's; with it, it is not.
    expect(identifyLicenseText(CUSTOM)?.id).not.toBe('0BSD');
  });

  it('does not match when one word that sets a condition is added, dropped or changed', () => {
    expect(identifyLicenseText(G10.replace('with or without\nmodifications', 'without\nmodifications'))).toBeUndefined();
    expect(identifyLicenseText(G10.replace('as long as this notice is preserved', 'as long as this notice is not removed'))).toBeUndefined();
    expect(identifyLicenseText(CUSTOM.replace('for any\npurpose', 'for any non commercial\npurpose'))).toBeUndefined();
    // A permission taken away (modify) is another license, however close the rest.
    expect(identifyLicenseText(CUSTOM.replace('copy, modify, and distribute', 'copy, and distribute'))?.id).not.toBe('ISC');
    const noClause = CUSTOM.replace(', provided that the above\ncopyright notice and this permission notice appear in all copies', '');
    expect(identifyLicenseText(noClause)?.id).not.toBe('ISC');
  });

  it('reads a public-domain dedication under a public-domain name, and nothing less', () => {
    const md5 = 'This code implements the MD5 message-digest algorithm.\nThe algorithm is due to Ron Rivest.  This code was\nwritten by Colin Plumb in 1993, no copyright is claimed.\nThis code is in the public domain; do with it what you wish.';
    expect(identifyLicenseText(md5, 'public-domain-md5')?.id).toBe(PUBLIC_DOMAIN);
    expect(identifyLicenseText('100% Public Domain', 'public-domain-sha1')?.id).toBe(PUBLIC_DOMAIN);
    // The name alone, or the text alone, is not enough.
    expect(identifyLicenseText('See the note on AUTHORS, README, and so on above.', 'probably-PD')).toBeUndefined();
    expect(identifyLicenseText(md5, 'md5-notice')).toBeUndefined();
    // A condition or a doubt makes it a question.
    expect(identifyLicenseText(`${md5}\nIt may not be sold.`, 'public-domain-md5')).toBeUndefined();
    expect(identifyLicenseText(`${md5}\nBut only for non-commercial use.`, 'public-domain-md5')).toBeUndefined();
    expect(identifyLicenseText('This is probably in the public domain.', 'PD')).toBeUndefined();
    expect(identifyLicenseText(`${md5.repeat(8)}`, 'public-domain-md5')).toBeUndefined(); // too long to be a dedication only
  });
});

describe('gfdlWithoutInvariants', () => {
  const grant = (v: string, rest: string) => `Permission is granted to copy, distribute and/or modify this\n document under the terms of the GNU Free Documentation License,\n Version ${v} or any later version published by the Free Software\n Foundation; ${rest}`;
  const none = 'with no Invariant Sections, no Front-Cover Texts, and\n no Back-Cover Texts.';
  it('reads a GFDL grant without invariant sections as the no-invariants license', () => {
    const text = `The documentation is distributed under the terms of the GNU Free\nDocumentation License (FDL):\n${grant('1.3', none)}`;
    expect(gfdlWithoutInvariants('GFDL-1.3+', text)).toBe('GFDL-1.3-no-invariants-or-later');
    expect(gfdlWithoutInvariants('LGPL-2.1+ and/or GFDL-1.3', text)).toBe('LGPL-2.1+ and/or GFDL-1.3-no-invariants-only');
  });
  it('leaves it when one grant has invariant sections or does not say', () => {
    const gcc = `The documentation is licensed under the GNU Free Documentation License (v1.2).\n${grant('1.3', none)}`;
    expect(gfdlWithoutInvariants('GFDL-1.2 and GFDL-1.3+', gcc)).toBe('GFDL-1.2 and GFDL-1.3+');
    const invariant = `${grant('1.3', none)}\n${grant('1.2', 'with the Invariant Sections being "Funding Free Software", the Front-Cover Texts being "A GNU Manual"')}`;
    expect(gfdlWithoutInvariants('GFDL-1.3+', invariant)).toBe('GFDL-1.3+');
    expect(gfdlWithoutInvariants('GFDL-1.3+', 'no grant at all')).toBe('GFDL-1.3+');
  });
});
