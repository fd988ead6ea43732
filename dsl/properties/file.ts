// Rows of what stands at the top of a file (declarations.ts collects them) and in a
// license policy (compile.ts reads them into the policy).
import { WAIVER_FORM } from './product';
import { BOTH, type Property } from './types';

export const DECLARATION_KINDS = ['product', 'variant', 'license-policy', 'package-list'] as const;
export type DeclarationKind = (typeof DECLARATION_KINDS)[number];

export const FILE_STATEMENTS: readonly Property<never>[] = [
  { keyword: 'import', block: 'file', rule: 'importDecl', form: ['STRING'], syntax: 'import "PATH"', merge: 'read', toolchains: BOTH, tight: true, doc: 'reads another recipe file, relative to this one' },
  { keyword: 'product', block: 'file', rule: 'productDecl', form: ['NAME', { opt: [{ kw: 'extends' }, 'NAME'] }, { body: 'product' }], syntax: 'product NAME [extends BASE] { PROPERTIES }', merge: 'declaration', toolchains: BOTH, doc: 'a product, maybe on top of another' },
  { keyword: 'variant', block: 'file', rule: 'variantDecl', form: ['NAME', { kw: 'of' }, 'NAME', { body: 'product' }], syntax: 'variant NAME of PRODUCT { PROPERTIES }', merge: 'declaration', toolchains: BOTH, doc: 'a product with changes on top, after its `on` blocks' },
  { keyword: 'license-policy', block: 'file', rule: 'policyDecl', form: ['NAME', { body: 'license-policy' }], syntax: 'license-policy NAME { RULES }', merge: 'declaration', toolchains: BOTH, doc: 'which licenses pass the license check' },
  { keyword: 'package-list', block: 'file', rule: 'listDecl', form: ['NAME', { body: 'packages' }], syntax: 'package-list NAME { PACKAGES }', merge: 'declaration', toolchains: BOTH, doc: 'packages that `packages` blocks include as `@NAME`' },
];

export const POLICY_RULES: readonly Property<never>[] = [
  { keyword: 'allow', block: 'license-policy', form: ['NAMES'], syntax: 'allow LICENSE, ...', merge: 'rule', toolchains: BOTH, doc: 'licenses that pass' },
  { keyword: 'review', block: 'license-policy', form: ['NAMES'], syntax: 'review LICENSE, ...', merge: 'rule', toolchains: BOTH, doc: 'licenses a person must look at' },
  { keyword: 'deny', block: 'license-policy', form: ['NAMES'], syntax: 'deny LICENSE, ...', merge: 'rule', toolchains: BOTH, doc: 'licenses that fail the build' },
  { keyword: 'unknown', block: 'license-policy', form: ['NAME'], syntax: 'unknown allow | review | deny', merge: 'scalar', toolchains: BOTH, doc: 'what an unrecognised license gets (default `review`)' },
  { keyword: 'waive', block: 'license-policy', rule: 'waiver', form: WAIVER_FORM, syntax: 'waive PACKAGE owner "WHO" reason "WHY" until YYYY-MM-DD', merge: 'append', toolchains: BOTH, doc: 'lets one package pass until a date' },
];
