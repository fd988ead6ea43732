// The named things a set of recipe files declares: products, variants, license policies
// and package lists (the property table's declarations), each once.
import type { Stmt } from './ast';
import type { DiagnosticSink } from './diagnostics';
import type { LoadedFile } from './load';
import { Name } from '../plan/schemas';
import { checkTwice, DECLARATION_KINDS, type DeclarationKind, POLICY_RULES } from './properties';
import type { Span } from './source';

export interface Decl {
  kind: DeclarationKind;
  name: string;
  nameSpan: Span;
  /** `extends` base of a product, or the product a variant is of. */
  base?: { name: string; span: Span };
  body: Stmt[];
  stmt: Stmt;
  file: string;
}

export interface Declarations {
  /** Products and variants share one namespace: `sborka plan --product` takes either. */
  products: Map<string, Decl>;
  policies: Map<string, Decl>;
  lists: Map<string, Decl>;
}

const isKind = (keyword: string): keyword is DeclarationKind => (DECLARATION_KINDS as readonly string[]).includes(keyword);

export function collectDeclarations(files: readonly LoadedFile[], sink: DiagnosticSink): Declarations {
  const decls: Declarations = { products: new Map(), policies: new Map(), lists: new Map() };
  for (const f of files) {
    for (const stmt of f.ast.statements) {
      const kind = stmt.keyword;
      const nameArg = stmt.args[0];
      if (!isKind(kind) || !nameArg || nameArg.kind === 'list') continue;
      const name = nameArg.kind === 'string' ? nameArg.value : nameArg.text;
      const baseArg = stmt.args[2];
      const decl: Decl = { kind, name, nameSpan: nameArg.span, body: stmt.body ?? [], stmt, file: f.path };
      if (baseArg && baseArg.kind !== 'list') decl.base = { name: baseArg.text, span: baseArg.span };
      if (!Name.safeParse(name).success) {
        sink.error('invalid-name', `\`${name}\` cannot name a ${kind}: names are lower-case letters, digits and . _ + -, starting with a letter or digit`, nameArg.span, /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name) ? `did you mean \`${name.toLowerCase()}\`?` : undefined);
      }
      const table = kind === 'license-policy' ? decls.policies : kind === 'package-list' ? decls.lists : decls.products;
      const first = table.get(name);
      if (first) {
        const what = first.kind === kind ? kind : `${first.kind} (products and variants share their names)`;
        sink.error('duplicate-name', `\`${name}\` is declared twice`, nameArg.span, `the first ${what} \`${name}\` is at ${first.nameSpan.file}:${first.nameSpan.line}:${first.nameSpan.col}`);
        continue;
      }
      // A policy's rules are read in compile.ts; a scalar among them set twice is a mistake, as in any block.
      if (kind === 'license-policy') checkTwice({ err: (...a) => sink.error(...a) }, POLICY_RULES, 'license-policy', decl.body);
      table.set(name, decl);
    }
  }
  return decls;
}
