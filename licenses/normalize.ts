// Declared license strings (an RPM License: tag, a DEP-5 License: line) to SPDX expressions.
// Already-valid SPDX passes through (canonicalised); otherwise the string is split on
// and / or / "," / ";" and each term goes through the legacy table, the GNU-name rule and
// the SPDX list. A term nothing recognises is kept verbatim as LicenseRef-unknown-<slug>
// and flagged, so a policy can treat it as unknown instead of guessing.
import { LEGACY_EXCEPTIONS, LEGACY_NAMES, type Flavour } from './legacy-names';
import { andOf, canonicalize, licenseRefSlug, orOf, parseSpdx, renderSpdx, spdxExceptionId, spdxLicenseId, type SpdxLicense, type SpdxNode } from './spdx';

export type { Flavour } from './legacy-names';

export interface Normalized {
  declared: string;
  /** Canonical SPDX expression text. */
  expression: string;
  node: SpdxNode;
  /** Terms no rule recognised (each became LicenseRef-unknown-…). */
  unknown: string[];
  /** How it was read: already SPDX, or translated from legacy names. */
  source: 'spdx' | 'legacy' | 'empty';
  /** Dropped details a reviewer should see (an exception SPDX does not list). */
  notes: string[];
}

export const UNKNOWN_PREFIX = 'LicenseRef-unknown-';

const key = (name: string) => name.toLowerCase().replace(/\s+/g, ' ').trim();

const TABLES: Record<Flavour, Map<string, SpdxNode>> = { rpm: new Map(), debian: new Map() };
for (const entry of LEGACY_NAMES) {
  const parsed = parseSpdx(entry.spdx);
  // A bad table entry is a programming error: fail at load, not per package.
  if (!parsed.ok) throw new Error(`legacy license table: ${entry.name} -> ${entry.spdx}: ${parsed.error}`);
  const node = canonicalize(parsed.node);
  for (const flavour of entry.flavour === 'any' ? (['rpm', 'debian'] as const) : [entry.flavour]) {
    if (!TABLES[flavour].has(key(entry.name))) TABLES[flavour].set(key(entry.name), node);
  }
}

/** The table entry for one name, for tests and reports. */
export function legacyLookup(name: string, flavour: Flavour): string | undefined {
  const node = TABLES[flavour].get(key(name));
  return node && renderSpdx(node);
}

// GPLv2+, GPL-2+, GPL2, LGPLv2.1+, LGPL-2.1, AGPLv3, GPL-3.0+, "GPL version 2 or later", GFDL-1.2+.
const GNU = /^(a?gpl|lgpl|gfdl|fdl)[\s-]*(?:v(?:ersion)?\s*)?\.?\s*(\d)(?:\.(\d))?(\+|\s*or\s+(?:any\s+)?later(?:\s+version)?)?(-only)?$/i;

function gnuName(term: string): SpdxLicense | undefined {
  const m = GNU.exec(term.trim());
  if (!m) return undefined;
  const family = m[1]!.toUpperCase() === 'FDL' ? 'GFDL' : m[1]!.toUpperCase();
  const major = m[2]!;
  // LGPL 2 means LGPL-2.0; GFDL has 1.1/1.2/1.3.
  const minor = m[3] ?? '0';
  const id = spdxLicenseId(`${family}-${major}.${minor}-${m[4] ? 'or-later' : 'only'}`);
  return id ? { type: 'license', id, plus: false } : undefined;
}

type Token = { kind: '(' | ')' | ',' | 'and' | 'or'; text: string } | { kind: 'term'; text: string };

// "and/or" keeps every license in play, so it reads as AND (the stricter reading).
const OPERATOR = /^(?:and\/or|and|or|&|\|)$/i;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  // "or later" / "or any later version" belong to the term before them, not an OR.
  const prepared = text.replace(/\s+or\s+(?:any\s+)?(?:later|newer)(?:\s+version)?\b/gi, '+');
  let words: string[] = [];
  const flush = () => {
    if (words.length > 0) tokens.push({ kind: 'term', text: words.join(' ') });
    words = [];
  };
  for (const raw of prepared.split(/(\(|\)|,|;|\s+)/)) {
    if (raw === undefined || raw === '' || /^\s+$/.test(raw)) continue;
    if (raw === '(' || raw === ')') {
      flush();
      tokens.push({ kind: raw, text: raw });
    } else if (raw === ',' || raw === ';') {
      flush();
      tokens.push({ kind: ',', text: raw });
    } else if (OPERATOR.test(raw)) {
      flush();
      const op = raw.toLowerCase();
      tokens.push({ kind: op === 'or' || op === '|' ? 'or' : 'and', text: raw });
    } else {
      words.push(raw);
    }
  }
  flush();
  return tokens;
}

/** Names the package's own copyright file defines by a text that matched an SPDX license (text-match.ts). */
export type Identified = Readonly<Record<string, string>>;

interface Context {
  flavour: Flavour;
  identified?: Map<string, string>;
  unknown: string[];
  notes: string[];
}

function parseLegacy(tokens: Token[], ctx: Context): SpdxNode | undefined {
  let i = 0;
  // "," binds loosest (DEP-5: "GPL-1+ or Artistic, and Unicode"), then OR, then AND.
  const list = (): SpdxNode | undefined => {
    const parts: SpdxNode[] = [];
    for (;;) {
      while (tokens[i]?.kind === 'and' || tokens[i]?.kind === 'or') i += 1; // ", and C" / ", or C"
      const p = orExpr();
      if (p) parts.push(p);
      if (tokens[i]?.kind !== ',') break;
      i += 1;
    }
    return parts.length === 0 ? undefined : andOf(parts);
  };
  const orExpr = (): SpdxNode | undefined => {
    const parts: SpdxNode[] = [];
    const first = andExpr();
    if (first) parts.push(first);
    while (tokens[i]?.kind === 'or') {
      i += 1;
      const next = andExpr();
      if (next) parts.push(next);
    }
    return parts.length === 0 ? undefined : orOf(parts);
  };
  const andExpr = (): SpdxNode | undefined => {
    const parts: SpdxNode[] = [];
    const first = primary();
    if (first) parts.push(first);
    while (tokens[i]?.kind === 'and') {
      i += 1;
      const next = primary();
      if (next) parts.push(next);
    }
    return parts.length === 0 ? undefined : andOf(parts);
  };
  const primary = (): SpdxNode | undefined => {
    const t = tokens[i];
    if (!t) return undefined;
    if (t.kind === '(') {
      i += 1;
      const inner = list();
      if (tokens[i]?.kind === ')') i += 1;
      return inner;
    }
    if (t.kind === 'term') {
      i += 1;
      return term(t.text, ctx);
    }
    return undefined; // a stray ")" or a doubled operator: skip, the rest still counts
  };
  const node = list();
  // Unbalanced ")" etc.: read what follows as further ANDed parts rather than lose it.
  const rest: SpdxNode[] = node ? [node] : [];
  while (i < tokens.length) {
    i += 1;
    const more = list();
    if (more) rest.push(more);
  }
  return rest.length === 0 ? undefined : andOf(rest);
}

function term(text: string, ctx: Context): SpdxNode {
  const known = knownTerm(text, ctx);
  if (known) return known;
  // "GPL-2+ with OpenSSL exception", "GPL-3+-WITH-BISON-EXCEPTION" (when not in the table).
  const w = /^(.+?)[\s-]+with[\s-]+(.+?)([\s-]+exceptions?)?$/i.exec(text);
  if (w) {
    const base = knownTerm(w[1]!, ctx);
    const exception = exceptionFor(w[2]!, base?.type === 'license' ? base.id : '');
    // "BSD-3-clause-with-weird-numbering" is a license of its own, not an exception.
    if (base && base.type === 'license' && !base.exception && (exception || w[3] || /^exceptions?$/i.test(w[2]!))) {
      if (exception) return { ...base, exception };
      // An exception only adds permissions: judging the base license alone is the stricter reading.
      ctx.notes.push(`"${text}": exception "${w[2]}" is not on the SPDX exception list; judged as ${renderSpdx(base)}`);
      return base;
    }
  }
  // Debian's dashed forms: "GPL-2+-autoconf-exception" (GPL-2+ with the Autoconf exception),
  // "GPL-2+-or-X11" (either); only when every part is a name we know.
  const dashed = dashedTerm(text, ctx);
  if (dashed) return dashed;
  // RPM's "GPL/BSD" is a dual license when both halves are names we know.
  if (text.includes('/')) {
    const halves = text.split('/').map((h) => knownTerm(h, ctx));
    if (halves.length > 1 && halves.every((h) => h !== undefined)) return orOf(halves as SpdxNode[]);
  }
  ctx.unknown.push(text);
  return { type: 'license', id: licenseRefSlug('unknown-', text), plus: false };
}

function dashedTerm(text: string, ctx: Context): SpdxNode | undefined {
  const t = text.trim();
  const exc = /^(.+)-([A-Za-z0-9.]+)-exceptions?$/.exec(t);
  if (exc) {
    const base = knownTerm(exc[1]!, ctx);
    const exception = base?.type === 'license' && !base.exception ? exceptionFor(exc[2]!, base.id) : undefined;
    if (base?.type === 'license' && exception) return { ...base, exception };
  }
  const halves = t.split(/-or-/i);
  if (halves.length === 2) {
    const sides = halves.map((h) => knownTerm(h, ctx));
    if (sides.every((h) => h !== undefined)) return orOf(sides as SpdxNode[]);
  }
  return undefined;
}

function knownTerm(text: string, ctx: Context): SpdxNode | undefined {
  const t = text.trim();
  const tabled = TABLES[ctx.flavour].get(key(t));
  if (tabled) return tabled;
  const byText = ctx.identified?.get(key(t));
  if (byText) {
    ctx.notes.push(`"${t}": identified as ${byText} by its license text`);
    return { type: 'license', id: byText, plus: false };
  }
  if (/^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/.test(t)) return { type: 'license', id: t, plus: false };
  const plus = t.endsWith('+');
  const id = spdxLicenseId(plus ? t.slice(0, -1) : t);
  if (id) return canonicalize({ type: 'license', id, plus });
  return gnuName(t);
}

function exceptionFor(name: string, baseId: string): string | undefined {
  const k = key(name).replace(/[\s-]+exception$/, '');
  if (k === 'autoconf') return /^GPL-2/.test(baseId) ? 'Autoconf-exception-2.0' : 'Autoconf-exception-3.0';
  return LEGACY_EXCEPTIONS[k] ?? spdxExceptionId(name.trim()) ?? spdxExceptionId(`${name.trim()}-exception`);
}

/** The SPDX reading of one declared license string. */
export function normalizeLicense(declared: string, flavour: Flavour, identified?: Identified): Normalized {
  const text = declared.trim();
  if (text === '' || text === '(none)') {
    const node: SpdxNode = { type: 'license', id: 'LicenseRef-unknown-empty', plus: false };
    return { declared, expression: renderSpdx(node), node, unknown: [declared], source: 'empty', notes: [] };
  }
  const direct = parseSpdx(text);
  if (direct.ok) {
    const node = canonicalize(direct.node);
    return { declared, expression: renderSpdx(node), node, unknown: [], source: 'spdx', notes: [] };
  }
  const ids = identified && Object.keys(identified).length > 0 ? new Map(Object.entries(identified).map(([n, id]) => [key(n), id])) : undefined;
  const ctx: Context = { flavour, unknown: [], notes: [], ...(ids ? { identified: ids } : {}) };
  // Whole-string names first: some contain "," or "or" ("Apache License, Version 2.0").
  const whole = TABLES[flavour].get(key(text));
  if (whole) return { declared, expression: renderSpdx(whole), node: whole, unknown: [], source: 'legacy', notes: [] };
  const node = parseLegacy(tokenize(text), ctx) ?? term(text, ctx);
  return { declared, expression: renderSpdx(node), node, unknown: ctx.unknown, source: 'legacy', notes: ctx.notes };
}

/** normalizeLicense with a cache: images repeat a few hundred distinct strings thousands of times. */
export function createNormalizer(flavour: Flavour): (declared: string, identified?: Identified) => Normalized {
  const cache = new Map<string, Normalized>();
  return (declared, identified) => {
    const k = identified ? `${declared}\u0000${JSON.stringify(identified)}` : declared;
    let hit = cache.get(k);
    if (!hit) {
      hit = normalizeLicense(declared, flavour, identified);
      cache.set(k, hit);
    }
    return hit;
  };
}
