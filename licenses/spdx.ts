// SPDX license expressions (SPDX 2.3, annex D): parse, canonicalise and render.
// Ids are checked against the SPDX lists shipped in spdx-license-ids / spdx-exceptions, so
// a typo never silently becomes a "license" that no policy names.
import licenseIds from 'spdx-license-ids/index.json';
import deprecatedIds from 'spdx-license-ids/deprecated.json';
import exceptionIds from 'spdx-exceptions/index.json';

export type SpdxLicense = {
  type: 'license';
  /** Canonical SPDX id, or LicenseRef-…, or DocumentRef-…:LicenseRef-…. */
  id: string;
  /** The `+` operator ("this version or any later"). */
  plus: boolean;
  exception?: string;
};
export type SpdxNode = SpdxLicense | { type: 'and' | 'or'; args: SpdxNode[] };

export type ParseResult = { ok: true; node: SpdxNode } | { ok: false; error: string; at: number };

// Case-insensitive lookups: SPDX says ids match case-insensitively, and packagers vary.
const LICENSES = new Map<string, string>();
for (const id of licenseIds) LICENSES.set(id.toLowerCase(), id);
const DEPRECATED = new Map<string, string>();
for (const id of deprecatedIds) DEPRECATED.set(id.toLowerCase(), id);
const EXCEPTIONS = new Map<string, string>();
for (const id of exceptionIds) EXCEPTIONS.set(id.toLowerCase(), id);

const LICENSE_REF = /^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/;

/** The canonical spelling of a current or deprecated SPDX license id, or undefined. */
export function spdxLicenseId(id: string): string | undefined {
  return LICENSES.get(id.toLowerCase()) ?? DEPRECATED.get(id.toLowerCase());
}

export function spdxExceptionId(id: string): string | undefined {
  return EXCEPTIONS.get(id.toLowerCase());
}

export function isDeprecatedId(id: string): boolean {
  return !LICENSES.has(id.toLowerCase()) && DEPRECATED.has(id.toLowerCase());
}

type Token = { kind: '(' | ')' | 'AND' | 'OR' | 'WITH' | 'id'; text: string; at: number };

function tokenize(text: string): Token[] | { error: string; at: number } {
  const tokens: Token[] = [];
  const re = /\s*(?:(\()|(\))|([A-Za-z0-9.:+-]+))/y;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return { error: `unexpected character ${JSON.stringify(text.slice(pos).trimStart()[0])}`, at: pos + (text.slice(pos).length - text.slice(pos).trimStart().length) };
    const at = m.index + m[0].length - (m[1] ?? m[2] ?? m[3] ?? '').length;
    if (m[1]) tokens.push({ kind: '(', text: '(', at });
    else if (m[2]) tokens.push({ kind: ')', text: ')', at });
    else {
      const word = m[3]!;
      // Operators are all upper or all lower case (SPDX 2.3 D.2); "And" stays an id and fails.
      const op = word === 'AND' || word === 'and' ? 'AND' : word === 'OR' || word === 'or' ? 'OR' : word === 'WITH' || word === 'with' ? 'WITH' : undefined;
      tokens.push({ kind: op ?? 'id', text: word, at });
    }
    pos = re.lastIndex;
  }
  return tokens;
}

/** Parses an SPDX license expression; ids must be on the SPDX lists or be LicenseRef-s. */
export function parseSpdx(text: string): ParseResult {
  const tokens = tokenize(text);
  if (!Array.isArray(tokens)) return { ok: false, ...tokens };
  if (tokens.length === 0) return { ok: false, error: 'empty expression', at: 0 };
  let i = 0;
  const fail = (error: string, at = tokens[i]?.at ?? text.length): never => {
    throw new SpdxSyntaxError(error, at);
  };

  // OR binds loosest, then AND, then WITH (annex D.4.2).
  const orExpr = (): SpdxNode => {
    const args = [andExpr()];
    while (tokens[i]?.kind === 'OR') {
      i += 1;
      args.push(andExpr());
    }
    return args.length === 1 ? args[0]! : { type: 'or', args };
  };
  const andExpr = (): SpdxNode => {
    const args = [primary()];
    while (tokens[i]?.kind === 'AND') {
      i += 1;
      args.push(primary());
    }
    return args.length === 1 ? args[0]! : { type: 'and', args };
  };
  const primary = (): SpdxNode => {
    const t = tokens[i];
    if (!t) return fail('expected a license, got the end');
    if (t.kind === '(') {
      i += 1;
      const inner = orExpr();
      if (tokens[i]?.kind !== ')') fail('expected ")"');
      i += 1;
      return inner;
    }
    if (t.kind !== 'id') return fail(`expected a license, got ${t.text}`, t.at);
    i += 1;
    const license = licenseTerm(t);
    if (tokens[i]?.kind === 'WITH') {
      i += 1;
      const e = tokens[i];
      if (!e || e.kind !== 'id') return fail('expected an exception after WITH');
      const exception = spdxExceptionId(e.text);
      if (!exception) return fail(`unknown SPDX exception "${e.text}"`, e.at);
      i += 1;
      license.exception = exception;
    }
    return license;
  };
  const licenseTerm = (t: Token): SpdxLicense => {
    const plus = t.text.endsWith('+');
    const bare = plus ? t.text.slice(0, -1) : t.text;
    if (LICENSE_REF.test(bare)) {
      if (plus) fail('"+" applies to SPDX license ids, not to LicenseRef-s', t.at);
      return { type: 'license', id: bare, plus: false };
    }
    const id = spdxLicenseId(bare);
    if (!id) return fail(`unknown SPDX license id "${bare}"`, t.at);
    return { type: 'license', id, plus };
  };

  try {
    const node = orExpr();
    if (i < tokens.length) fail(`unexpected ${tokens[i]!.text}`);
    return { ok: true, node };
  } catch (err) {
    if (err instanceof SpdxSyntaxError) return { ok: false, error: err.message, at: err.at };
    throw err;
  }
}

class SpdxSyntaxError extends Error {
  constructor(message: string, readonly at: number) {
    super(message);
  }
}

// Deprecated GNU ids with an exception built in, and what SPDX replaced them with.
const DEPRECATED_WITH: Record<string, [string, string]> = {
  'GPL-2.0-with-autoconf-exception': ['GPL-2.0-only', 'Autoconf-exception-2.0'],
  'GPL-2.0-with-bison-exception': ['GPL-2.0-only', 'Bison-exception-2.2'],
  'GPL-2.0-with-classpath-exception': ['GPL-2.0-only', 'Classpath-exception-2.0'],
  'GPL-2.0-with-font-exception': ['GPL-2.0-only', 'Font-exception-2.0'],
  'GPL-2.0-with-GCC-exception': ['GPL-2.0-only', 'GCC-exception-2.0'],
  'GPL-3.0-with-autoconf-exception': ['GPL-3.0-only', 'Autoconf-exception-3.0'],
  'GPL-3.0-with-GCC-exception': ['GPL-3.0-only', 'GCC-exception-3.1'],
};
// Deprecated ids SPDX withdrew because their text is another license's (its 3.9 release notes).
const DEPRECATED_SAME_TEXT: Record<string, string> = { 'BSD-2-Clause-NetBSD': 'BSD-2-Clause', 'BSD-2-Clause-FreeBSD': 'BSD-2-Clause' };
const GNU_FAMILY = /^(A?GPL|LGPL|GFDL)-(\d\.\d)$/;

/**
 * The current SPDX form: deprecated GNU ids become -only / -or-later ("GPL-2.0+" is
 * "GPL-2.0-or-later"), nested ANDs/ORs are flattened and duplicate operands dropped.
 */
export function canonicalize(node: SpdxNode): SpdxNode {
  if (node.type === 'license') {
    const replaced = DEPRECATED_WITH[node.id];
    if (replaced) return canonicalize({ type: 'license', id: replaced[0], plus: node.plus, exception: node.exception ?? replaced[1] });
    const same = DEPRECATED_SAME_TEXT[node.id];
    if (same) return { ...node, id: same };
    const gnu = GNU_FAMILY.exec(node.id) ?? /^(A?GPL|LGPL|GFDL)-(\d\.\d)-only$/.exec(node.id);
    if (gnu && (GNU_FAMILY.test(node.id) || node.plus)) {
      const id = `${gnu[1]}-${gnu[2]}-${node.plus ? 'or-later' : 'only'}`;
      if (LICENSES.has(id.toLowerCase())) return withException({ type: 'license', id, plus: false }, node.exception);
    }
    if (/-or-later$/.test(node.id) && node.plus) return withException({ type: 'license', id: node.id, plus: false }, node.exception);
    return node;
  }
  const args: SpdxNode[] = [];
  const seen = new Set<string>();
  for (const a of node.args.map(canonicalize)) {
    for (const flat of a.type === node.type ? a.args : [a]) {
      const key = renderSpdx(flat);
      if (seen.has(key)) continue;
      seen.add(key);
      args.push(flat);
    }
  }
  return args.length === 1 ? args[0]! : { type: node.type, args };
}

function withException(node: SpdxLicense, exception: string | undefined): SpdxLicense {
  return exception === undefined ? node : { ...node, exception };
}

/** The expression as text, with parentheses only where precedence needs them. */
export function renderSpdx(node: SpdxNode): string {
  if (node.type === 'license') return `${node.id}${node.plus ? '+' : ''}${node.exception ? ` WITH ${node.exception}` : ''}`;
  const sep = node.type === 'and' ? ' AND ' : ' OR ';
  return node.args.map((a) => (a.type === 'or' && node.type === 'and' ? `(${renderSpdx(a)})` : renderSpdx(a))).join(sep);
}

/** Every license term (leaf) of the expression, in order. */
export function licenseTerms(node: SpdxNode): SpdxLicense[] {
  return node.type === 'license' ? [node] : node.args.flatMap(licenseTerms);
}

export const andOf = (nodes: SpdxNode[]): SpdxNode => canonicalize(nodes.length === 1 ? nodes[0]! : { type: 'and', args: nodes });
export const orOf = (nodes: SpdxNode[]): SpdxNode => canonicalize(nodes.length === 1 ? nodes[0]! : { type: 'or', args: nodes });

/** A LicenseRef- id made from free text: letters, digits, '.', '-' only. */
export function licenseRefSlug(prefix: string, text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9.]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 64)
    .replace(/[-.]+$/, '');
  return `LicenseRef-${prefix}${slug === '' ? 'empty' : slug}`;
}
