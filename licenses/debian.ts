// Debian's package metadata: the dpkg status file (deb822 paragraphs) and machine-readable
// copyright files (DEP-5, https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/).

export type Deb822Paragraph = Map<string, string>;

/** Paragraphs of a deb822 file; field names are matched case-insensitively (stored lower-cased). */
export function parseDeb822(text: string): Deb822Paragraph[] {
  const paragraphs: Deb822Paragraph[] = [];
  let current: Deb822Paragraph | undefined;
  let field: string | undefined;
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (/^\s*$/.test(line)) {
      if (current && current.size > 0) paragraphs.push(current);
      current = undefined;
      field = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (/^[ \t]/.test(line)) {
      // A continuation line; " ." stands for an empty line.
      if (current && field) current.set(field, `${current.get(field)}\n${line.trim() === '.' ? '' : line.slice(1)}`);
      continue;
    }
    const m = /^([^:\s]+):[ \t]*(.*)$/.exec(line);
    if (!m) continue; // not deb822 here: the caller decides what that means
    current ??= new Map();
    field = m[1]!.toLowerCase();
    current.set(field, m[2]!.trimEnd());
  }
  if (current && current.size > 0) paragraphs.push(current);
  return paragraphs;
}

export interface DpkgPackage {
  name: string;
  version: string;
  arch: string;
  /** Source package name (Source: without its version), or the package's own name. */
  source: string;
  maintainer?: string;
  /** Multi-Arch: same packages share one doc dir name per arch-qualified name. */
  multiArch?: string;
}

/** Installed packages ("install ok installed", or half-configured states that left files). */
export function parseDpkgStatus(text: string): DpkgPackage[] {
  const out: DpkgPackage[] = [];
  for (const p of parseDeb822(text)) {
    const status = p.get('status') ?? '';
    const state = status.split(/\s+/)[2];
    if (!state || state === 'not-installed' || state === 'config-files') continue;
    const name = p.get('package');
    if (!name) continue;
    const source = (p.get('source') ?? name).split(/\s+/)[0]!;
    out.push({
      name,
      version: p.get('version') ?? '',
      arch: p.get('architecture') ?? 'all',
      source,
      ...(p.get('maintainer') ? { maintainer: p.get('maintainer') } : {}),
      ...(p.get('multi-arch') ? { multiArch: p.get('multi-arch') } : {}),
    });
  }
  return out;
}

export type CopyrightReading =
  | { kind: 'dep5'; licenses: string[]; stanzas: Array<{ files: string; license: string }>; texts: Record<string, string> }
  | { kind: 'unparsed'; reason: string };

/**
 * The License: of every Files: stanza of a DEP-5 file (the first line: the short name or
 * expression; the text that may follow is the license itself). A file without the Format:
 * header or without Files: stanzas is not DEP-5.
 */
export function parseCopyright(text: string): CopyrightReading {
  const paragraphs = parseDeb822(text);
  const header = paragraphs[0];
  const format = header?.get('format') ?? header?.get('format-specification');
  if (!format) return { kind: 'unparsed', reason: 'no Format: header' };
  if (!/copyright-format|dep-?5/i.test(format)) return { kind: 'unparsed', reason: `unknown Format: ${format.split('\n')[0]}` };
  const stanzas: Array<{ files: string; license: string }> = [];
  // The text a short name stands for: a standalone License: paragraph, or the lines after
  // the name in a Files: stanza (the first one given wins, as DEP-5 wants one per name).
  const texts: Record<string, string> = {};
  for (const p of paragraphs) {
    const license = p.get('license');
    if (license === undefined) continue;
    const [first = '', ...body] = license.split('\n');
    const name = first.trim();
    const text = body.join('\n').trim();
    if (name !== '' && text !== '' && texts[name] === undefined) texts[name] = text;
    const files = p.get('files');
    if (p === header || files === undefined) continue;
    stanzas.push({ files: files.replace(/\s+/g, ' ').trim(), license: name });
  }
  // The header may carry the license of the whole work (DEP-5 allows it there too).
  const headerLicense = header?.get('license')?.split('\n')[0]?.trim();
  if (stanzas.length === 0 && headerLicense) stanzas.push({ files: '*', license: headerLicense });
  if (stanzas.length === 0) return { kind: 'unparsed', reason: 'no Files: stanza with a License:' };
  const empty = stanzas.find((s) => s.license === '');
  if (empty) return { kind: 'unparsed', reason: `Files: ${empty.files} has an empty License: line` };
  return { kind: 'dep5', licenses: [...new Set(stanzas.map((s) => s.license))], stanzas, texts };
}

/** A grant that names the GFDL's version ("Free Documentation License, Version 1.3", "(v1.2)"). */
const GFDL_NOTICE = /free documentation license,? ?(?:\(v?\d|version \d|v\d)/g;
const GFDL_NO_INVARIANTS = /with no invariant sections, (?:with )?no front-cover texts,? and (?:with )?no back-cover texts/g;

/**
 * licensecheck names a GFDL without saying whether it has invariant sections; the notice
 * says it. When every versioned GFDL grant of the file gives it "with no Invariant Sections, no
 * Front-Cover Texts, and no Back-Cover Texts", the GFDL terms of its reading are the SPDX
 * no-invariants ones; one notice with invariant sections (GCC's manuals) leaves them as they are.
 */
export function gfdlWithoutInvariants(guess: string, text: string): string {
  const flat = text.slice(0, 1024 * 1024).replace(/\s+/g, ' ').toLowerCase();
  const notices = flat.match(GFDL_NOTICE)?.length ?? 0;
  if (notices === 0 || (flat.match(GFDL_NO_INVARIANTS)?.length ?? 0) !== notices) return guess;
  return guess.replace(/\bGFDL-(1\.[123])(\+|-or-later|-only)?(?![\w.-])/g, (_m, v: string, later?: string) => `GFDL-${v}-no-invariants-${later === '-only' || later === undefined ? 'only' : 'or-later'}`);
}
