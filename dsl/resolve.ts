// Inheritance and variants: applies the statements of a product's chain onto a draft, in
// order (base first), then the `on <arch>` blocks, then a variant's own statements and its
// `on` blocks. What each statement does, how it merges (scalars override, lists append,
// `exclude` removes) and where it may stand are rows of the property table (properties/);
// this module walks the layers. Every value is checked as it is applied; the sink drops
// repeats, so a base shared by many products reports each problem once.
import { posix } from 'node:path';
import { argText, flatArgs, type Stmt } from './ast';
import { archSpellings, canonicalArch } from '../plan/arches';
import type { Decl, Declarations } from './declarations';
import type { DiagnosticSink } from './diagnostics';
import { type At, cloneDraft, type Draft, emptyDraft } from './draft';
import { applyBlock, type Ctx, PRODUCT_PROPERTIES } from './properties';
import type { Span } from './source';
import { didYouMean } from './suggest';
import { type Problem, TEMPLATE_VARS, templateRefs, unbalancedBrace } from './values';

export { type At, cloneDraft, type Draft, emptyDraft, type WaiverAt } from './draft';
export { readWaiver } from './properties';

type Scope = 'product' | 'on';

/**
 * Products in one `extends` chain, the product itself included: real ones have a few; the
 * limit keeps the drafts copied down a chain, and any walk up it, short.
 */
export const MAX_EXTENDS_DEPTH = 64;

interface Applied {
  d: Draft;
  depth: number;
}

export class Resolver implements Ctx {
  /** Per product: its chain applied, `on` blocks pending, and its depth (1 for a root). Never handed out, only copies. */
  private readonly applied = new Map<string, Applied>();
  /** Products refused for a chain over MAX_EXTENDS_DEPTH, or extending one that was. */
  private readonly tooDeep = new Set<string>();

  readonly lists: ReadonlyMap<string, Decl>;
  readonly policies: ReadonlyMap<string, Decl>;

  constructor(private readonly decls: Declarations, readonly sink: DiagnosticSink) {
    this.lists = decls.lists;
    this.policies = decls.policies;
  }

  err(code: string, message: string, at: Span, hint?: string): void {
    this.sink.error(code, message, at, hint);
  }

  problem(code: string, p: Problem | undefined, at: Span): boolean {
    if (!p) return false;
    this.err(code, p.message, at, p.hint);
    return true;
  }

  /**
   * The products of `decl`'s chain not applied yet, root-most first, and the applied draft
   * they go on (none from the root); undefined on a cycle, an unknown base or a chain over
   * MAX_EXTENDS_DEPTH. The walk stops at the first applied product, so a chain declared base
   * first costs one step a product, and any walk is at most MAX_EXTENDS_DEPTH long.
   */
  private chain(decl: Decl): { known: Applied | undefined; todo: Decl[] } | undefined {
    const done = this.applied.get(decl.name);
    if (done) return { known: done, todo: [] };
    if (this.tooDeep.has(decl.name)) return undefined;
    const out: Decl[] = [decl];
    const seen = new Set([decl.name]);
    let cur = decl;
    let known: Applied | undefined;
    while (cur.kind === 'product' && cur.base) {
      const base = this.decls.products.get(cur.base.name);
      if (!base) {
        this.err('unknown-product', `\`${cur.base.name}\` is not a product`, cur.base.span, didYouMean(cur.base.name, this.productNames('product')));
        return undefined;
      }
      if (base.kind !== 'product') {
        this.err('extends-variant', `\`${cur.base.name}\` is a variant: a product can extend only a product`, cur.base.span);
        return undefined;
      }
      // Its own problem was reported when it was resolved.
      if (this.tooDeep.has(base.name)) return this.refuse(decl);
      known = this.applied.get(base.name);
      if (known) break;
      if (seen.has(base.name)) {
        this.err('extends-cycle', `\`extends\` goes round in a circle: ${[...out.map((d) => d.name), base.name].join(' -> ')}`, cur.base.span, 'one of these products must stop extending the other');
        return undefined;
      }
      if (out.length >= MAX_EXTENDS_DEPTH) return this.refuse(decl, true);
      seen.add(base.name);
      out.push(base);
      cur = base;
    }
    if ((known?.depth ?? 0) + out.length > MAX_EXTENDS_DEPTH) return this.refuse(decl, true);
    return { known, todo: out.reverse() };
  }

  /** Refuses a product whose chain is too long; reported only where the chain first goes over. */
  private refuse(decl: Decl, report = false): undefined {
    this.tooDeep.add(decl.name);
    if (report && decl.base) {
      this.err('extends-too-deep', `\`${decl.name}\` extends a chain of more than ${MAX_EXTENDS_DEPTH} products`, decl.base.span, `a chain needs a few levels: extend a shared base instead of each other (the limit is ${MAX_EXTENDS_DEPTH})`);
    }
    return undefined;
  }

  productNames(kind?: Decl['kind']): string[] {
    return [...this.decls.products.values()].filter((d) => !kind || d.kind === kind).map((d) => d.name);
  }

  /**
   * The draft of a product or variant. With an arch, that arch's `on` blocks are applied;
   * without one they are only checked (ask without an arch first: the arch's own drafts
   * leave the checks to that call). The draft may be shared: the caller only reads it.
   */
  draft(decl: Decl, arch?: string): Draft | undefined {
    return this.layered(decl, arch)?.d;
  }

  /** `own` when the draft is a copy made for this call, which the caller may change. */
  private layered(decl: Decl, arch: string | undefined): { d: Draft; own: boolean } | undefined {
    if (decl.kind === 'variant') {
      const productName = decl.base?.name ?? '';
      const product = this.decls.products.get(productName);
      if (!product || product.kind !== 'product') {
        const span = decl.base?.span ?? decl.nameSpan;
        if (product) this.err('variant-of-variant', `\`${productName}\` is a variant: a variant is of a product`, span);
        else this.err('unknown-product', `\`${productName}\` is not a product`, span, didYouMean(productName, this.productNames('product')));
        return undefined;
      }
      const p = this.layered(product, arch);
      if (!p) return undefined;
      // A shared draft still lists its `on` blocks, which count as applied.
      const d = p.own ? p.d : { ...cloneDraft(p.d), pendingOn: [] };
      this.applyBody(d, decl.body, 'product');
      this.applyPendingOn(d, arch);
      return { d, own: true };
    }
    const chain = this.chain(decl);
    if (!chain) return undefined;
    const base = this.chainDraft(chain);
    if (arch === undefined) {
      // Checks only: every block goes onto a throwaway draft.
      this.applyPendingOn({ ...base, pendingOn: [...base.pendingOn] }, undefined);
      return { d: base, own: false };
    }
    const toolchain = base.toolchain?.value ?? 'alt';
    const wanted = canonicalArch(toolchain, arch);
    const matching = base.pendingOn.filter((b) => flatArgs(b.arches).some((a) => canonicalArch(toolchain, argText(a) ?? '') === wanted));
    if (matching.length === 0) return { d: base, own: false };
    const d = cloneDraft(base);
    d.pendingOn = [];
    for (const block of matching) this.applyBody(d, block.body, 'on');
    return { d, own: true };
  }

  /**
   * The draft of a valid chain before its `on` blocks, kept per product so that a base shared
   * by many products, and a product asked for per arch, is applied once. Never changed after.
   */
  private chainDraft(chain: { known: Applied | undefined; todo: readonly Decl[] }): Draft {
    const { known, todo } = chain;
    if (known && todo.length === 0) return known.d;
    let d = known ? cloneDraft(known.d) : emptyDraft();
    let depth = known?.depth ?? 0;
    for (let j = 0; j < todo.length; j++) {
      const c = todo[j] as Decl;
      if (j > 0) d = cloneDraft(d);
      this.applyBody(d, c.body, 'product');
      this.applied.set(c.name, { d, depth: ++depth });
    }
    return d;
  }

  private applyPendingOn(d: Draft, arch: string | undefined): void {
    const blocks = d.pendingOn;
    d.pendingOn = [];
    const toolchain = d.toolchain?.value ?? 'alt';
    let built: Set<string> | undefined;
    for (const block of blocks) {
      const arches = flatArgs(block.arches);
      for (const a of arches) {
        const text = argText(a) ?? '';
        const canonical = canonicalArch(toolchain, text);
        built ??= new Set(d.arches.map((x) => canonicalArch(toolchain, x.value) ?? ''));
        if (!canonical) {
          this.err('unknown-arch', `\`${text}\` is not an architecture the ${toolchain} toolchain builds`, a.span, didYouMean(text, archSpellings(toolchain)));
        } else if (!built.has(canonical)) {
          this.err('on-arch-not-built', `\`on ${text}\` names an architecture this product does not build`, a.span, `add it to \`arch\` or remove the block`);
        }
      }
      const matches = arch !== undefined && arches.some((a) => canonicalArch(toolchain, argText(a) ?? '') === canonicalArch(toolchain, arch));
      // Blocks for other arches are still checked, on a throwaway draft.
      this.applyBody(matches ? d : emptyDraft(), block.body, 'on');
    }
  }

  applyBody(d: Draft, body: readonly Stmt[], scope: Scope): void {
    applyBlock(this, PRODUCT_PROPERTIES, 'product', d, body, scope === 'on');
  }

  /** A path written in `file`, as a path of the host (joined to the file's directory). */
  fromFile(file: string, rel: string): string {
    return posix.normalize(posix.join(posix.dirname(file), rel));
  }

  /** Checks a template's braces and variables; false when it has problems. */
  template(v: At<string>, known: readonly string[] = TEMPLATE_VARS): boolean {
    const brace = unbalancedBrace(v.value);
    if (brace !== undefined) {
      this.err('invalid-template', 'a lone `{` or `}` in a template', v.span, 'template variables are written `{name}`');
      return false;
    }
    let ok = true;
    for (const ref of templateRefs(v.value)) {
      if (!known.includes(ref.name)) {
        this.err('unknown-template-variable', `\`{${ref.name}}\` is not a template variable`, v.span, didYouMean(ref.name, known) ?? `known: ${known.map((x) => `{${x}}`).join(' ')}`);
        ok = false;
      }
    }
    return ok;
  }
}
