// The named things a set of recipe files declares: products, variants, license policies
// and package lists, each once.
import type { Stmt } from './ast';
import type { DiagnosticSink } from './diagnostics';
import type { LoadedFile } from './load';
import { Name } from '../plan/schemas';
import type { Span } from './source';

export interface Decl {
  kind: 'product' | 'variant' | 'license-policy' | 'package-list';
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

const KIND_OF: Record<string, Decl['kind']> = {
  product: 'product',
  variant: 'variant',
  'license-policy': 'license-policy',
  'package-list': 'package-list',
};

export function collectDeclarations(files: readonly LoadedFile[], sink: DiagnosticSink): Declarations {
  const decls: Declarations = { products: new Map(), policies: new Map(), lists: new Map() };
  for (const f of files) {
    for (const stmt of f.ast.statements) {
      const kind = KIND_OF[stmt.keyword];
      const nameArg = stmt.args[0];
      if (!kind || !nameArg || nameArg.kind === 'list') continue;
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
      table.set(name, decl);
    }
  }
  return decls;
}
