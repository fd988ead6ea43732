// Inheritance and variants: applies the statements of a product's chain onto a draft, in
// order (base first; scalars override, lists append, `exclude` removes), then the `on
// <arch>` blocks, then a variant's own statements and its `on` blocks. Every value is
// checked as it is applied; the sink drops repeats, so a base shared by many products
// reports each problem once.
import { posix } from 'node:path';
import { argText, flatArgs, type Arg, type Stmt } from './ast';
import { archSpellings, canonicalArch, type ToolchainName, TOOLCHAINS } from '../plan/arches';
import type { Decl, Declarations } from './declarations';
import type { DiagnosticSink } from './diagnostics';
import { isCalendarDate, LIMITS } from '../plan/literals';
import type { Output, Repo, Script, Test, PublishTarget, User, Waiver } from '../plan/model';
import type { Span } from './source';
import { didYouMean } from './suggest';
import {
  checkAbsoluteTarget, checkCron, checkHostname, checkLocale, checkPasswordHash, checkProfile, checkRegistryRef,
  checkRelativeSource, checkTimezone, COMPRESSIONS, OUTPUT_FORMATS, OUTPUT_OPTIONS, type OutputFormat, type Problem,
  splitCommand, TEMPLATE_VARS, templateRefs, unbalancedBrace,
} from './values';

/** Placeholders of `publish files` paths: the template ones plus `{build}`, filled at publish time. */
const FILES_TEMPLATE_VARS = [...TEMPLATE_VARS, 'build'] as const;
const MAX_KEEP = 1000;

export interface At<T> {
  value: T;
  span: Span;
}

export interface Draft {
  title?: At<string>;
  version?: At<string>;
  branch?: At<string>;
  toolchain?: At<ToolchainName>;
  arches: At<string>[];
  kernels?: At<string>[];
  profile?: At<string>;
  packages: Map<string, Span>;
  exclude: Map<string, Span>;
  repos: Map<string, At<Repo>>;
  /** Source packages to build first: host paths (joined to their recipe's directory). */
  sources: At<string>[];
  settings: {
    locale?: At<string>;
    timezone?: At<string>;
    hostname?: At<string>;
    keyboard?: At<string>;
    rootPasswordHash?: At<string>;
    users: Map<string, User>;
    enable: Map<string, Span>;
    disable: Map<string, Span>;
  };
  overlays: At<{ src: string; dest: string }>[];
  scripts: At<Script>[];
  outputs: Map<OutputFormat, At<Output>>;
  policy?: At<string>;
  /** Waivers added by the product's chain and variant (the policy's own come first). */
  waivers: WaiverAt[];
  tests: At<Test>[];
  /** `span` is the statement's, `pathSpan` its path's or reference's. */
  publish: (At<PublishTarget> & { pathSpan: Span })[];
  schedule?: At<{ cron: string; timezone: string }>;
  owner?: At<{ kind: 'community' } | { kind: 'maintainer'; team: string } | { kind: 'partner'; name: string }>;
  /** `emulate after`: milliseconds a step waits for a native worker before it goes to an emulating one. */
  emulateAfter?: At<number>;
  /** `on` blocks met so far and not yet applied. */
  pendingOn: { arches: Arg[]; body: Stmt[] }[];
}

export interface WaiverAt extends At<Waiver> {
  packageSpan: Span;
}

export function emptyDraft(): Draft {
  return {
    arches: [],
    packages: new Map(),
    exclude: new Map(),
    repos: new Map(),
    sources: [],
    waivers: [],
    settings: { users: new Map(), enable: new Map(), disable: new Map() },
    overlays: [],
    scripts: [],
    outputs: new Map(),
    tests: [],
    publish: [],
    pendingOn: [],
  };
}

/** A copy that shares nothing a later statement changes in place (values are replaced, never edited). */
export function cloneDraft(d: Draft): Draft {
  return {
    ...d,
    arches: [...d.arches],
    packages: new Map(d.packages),
    exclude: new Map(d.exclude),
    repos: new Map(d.repos),
    sources: [...d.sources],
    waivers: [...d.waivers],
    settings: { ...d.settings, users: new Map(d.settings.users), enable: new Map(d.settings.enable), disable: new Map(d.settings.disable) },
    overlays: [...d.overlays],
    scripts: [...d.scripts],
    outputs: new Map(d.outputs),
    tests: [...d.tests],
    publish: [...d.publish],
    pendingOn: [...d.pendingOn],
  };
}

type Scope = 'product' | 'on';

/** Keywords that may appear once per block and whose value a later layer overrides. */
const SCALARS = new Set(['title', 'version', 'branch', 'toolchain', 'kernel', 'profile', 'license', 'schedule', 'owner', 'emulate']);
const NOT_IN_ON = new Set(['toolchain', 'arch', 'on', 'owner', 'schedule', 'title', 'version']);

export class Resolver {
  /** Per product: its chain applied, `on` blocks pending. Never handed out, only copies. */
  private readonly applied = new Map<string, Draft>();

  constructor(private readonly decls: Declarations, private readonly sink: DiagnosticSink) {}

  private err(code: string, message: string, at: Span, hint?: string): void {
    this.sink.error(code, message, at, hint);
  }

  private problem(code: string, p: Problem | undefined, at: Span): boolean {
    if (!p) return false;
    this.err(code, p.message, at, p.hint);
    return true;
  }

  /** Chain of products from the root base down to `decl` (empty on a cycle or unknown base). */
  chain(decl: Decl): Decl[] {
    const out: Decl[] = [decl];
    const seen = new Set([decl.name]);
    let cur = decl;
    while (cur.kind === 'product' && cur.base) {
      const base = this.decls.products.get(cur.base.name);
      if (!base) {
        this.err('unknown-product', `\`${cur.base.name}\` is not a product`, cur.base.span, didYouMean(cur.base.name, this.productNames('product')));
        return [];
      }
      if (base.kind !== 'product') {
        this.err('extends-variant', `\`${cur.base.name}\` is a variant: a product can extend only a product`, cur.base.span);
        return [];
      }
      if (seen.has(base.name)) {
        this.err('extends-cycle', `\`extends\` goes round in a circle: ${[...out.map((d) => d.name), base.name].join(' -> ')}`, cur.base.span, 'one of these products must stop extending the other');
        return [];
      }
      seen.add(base.name);
      out.push(base);
      cur = base;
    }
    return out.reverse();
  }

  productNames(kind?: Decl['kind']): string[] {
    return [...this.decls.products.values()].filter((d) => !kind || d.kind === kind).map((d) => d.name);
  }

  /**
   * The draft of a product or variant. With an arch, that arch's `on` blocks are applied;
   * without one they are only checked.
   */
  draft(decl: Decl, arch?: string): Draft | undefined {
    if (decl.kind === 'variant') {
      const productName = decl.base?.name ?? '';
      const product = this.decls.products.get(productName);
      if (!product || product.kind !== 'product') {
        const span = decl.base?.span ?? decl.nameSpan;
        if (product) this.err('variant-of-variant', `\`${productName}\` is a variant: a variant is of a product`, span);
        else this.err('unknown-product', `\`${productName}\` is not a product`, span, didYouMean(productName, this.productNames('product')));
        return undefined;
      }
      const d = this.draft(product, arch);
      if (!d) return undefined;
      this.applyBody(d, decl.body, 'product');
      this.applyPendingOn(d, arch);
      return d;
    }
    const chain = this.chain(decl);
    if (chain.length === 0) return undefined;
    const d = this.chainDraft(chain);
    this.applyPendingOn(d, arch);
    return d;
  }

  /**
   * The draft of a valid chain before its `on` blocks (a fresh copy). Each product's is kept,
   * so a base shared by many products, and a product asked for per arch, is applied once.
   */
  private chainDraft(chain: readonly Decl[]): Draft {
    let i = chain.length - 1;
    while (i >= 0 && !this.applied.has((chain[i] as Decl).name)) i--;
    const known = i >= 0 ? this.applied.get((chain[i] as Decl).name) : undefined;
    const d = known ? cloneDraft(known) : emptyDraft();
    for (let j = i + 1; j < chain.length; j++) {
      const c = chain[j] as Decl;
      this.applyBody(d, c.body, 'product');
      this.applied.set(c.name, cloneDraft(d));
    }
    return d;
  }

  private applyPendingOn(d: Draft, arch: string | undefined): void {
    const blocks = d.pendingOn;
    d.pendingOn = [];
    const toolchain = d.toolchain?.value ?? 'alt';
    for (const block of blocks) {
      const arches = flatArgs(block.arches);
      for (const a of arches) {
        const text = argText(a) ?? '';
        if (!canonicalArch(toolchain, text)) {
          this.err('unknown-arch', `\`${text}\` is not an architecture the ${toolchain} toolchain builds`, a.span, didYouMean(text, archSpellings(toolchain)));
        } else if (!d.arches.some((x) => canonicalArch(toolchain, x.value) === canonicalArch(toolchain, text))) {
          this.err('on-arch-not-built', `\`on ${text}\` names an architecture this product does not build`, a.span, `add it to \`arch\` or remove the block`);
        }
      }
      const matches = arch !== undefined && arches.some((a) => canonicalArch(toolchain, argText(a) ?? '') === canonicalArch(toolchain, arch));
      // Blocks for other arches are still checked, on a throwaway draft.
      this.applyBody(matches ? d : emptyDraft(), block.body, 'on');
    }
  }

  applyBody(d: Draft, body: readonly Stmt[], scope: Scope): void {
    const seen = new Map<string, Stmt>();
    for (const s of body) {
      if (SCALARS.has(s.keyword)) {
        const first = seen.get(s.keyword);
        if (first) this.err('duplicate-property', `\`${s.keyword}\` is set twice in this block`, s.keywordSpan, `the first is at line ${first.keywordSpan.line}; keep one`);
        else seen.set(s.keyword, s);
      }
      if (scope === 'on' && NOT_IN_ON.has(s.keyword)) {
        this.err('not-allowed-in-on', `\`${s.keyword}\` cannot be set per architecture`, s.keywordSpan, 'move it out of the `on` block');
        continue;
      }
      this.apply(d, s);
    }
  }

  private apply(d: Draft, s: Stmt): void {
    const a0 = s.args[0];
    const str = (a: Arg | undefined): At<string> | undefined => {
      const t = argText(a);
      return a && t !== undefined ? { value: t, span: a.span } : undefined;
    };
    switch (s.keyword) {
      case 'title': {
        const v = str(a0);
        if (v) {
          this.template(v);
          d.title = v;
        }
        return;
      }
      case 'version':
        d.version = str(a0) ?? d.version;
        return;
      case 'branch':
        d.branch = str(a0) ?? d.branch;
        return;
      case 'toolchain': {
        const v = str(a0);
        if (!v) return;
        if (!(TOOLCHAINS as readonly string[]).includes(v.value)) {
          this.err('unknown-toolchain', `\`${v.value}\` is not a toolchain`, v.span, didYouMean(v.value, TOOLCHAINS) ?? 'toolchains are alt and debian');
          return;
        }
        d.toolchain = { value: v.value as ToolchainName, span: v.span };
        return;
      }
      case 'arch':
        for (const a of flatArgs(s.args)) {
          const v = str(a);
          if (v && !d.arches.some((x) => x.value === v.value)) d.arches.push(v);
        }
        return;
      case 'kernel':
        d.kernels = flatArgs(s.args).map(str).filter((x): x is At<string> => !!x);
        return;
      case 'profile': {
        const v = str(a0);
        if (v && !this.problem('invalid-profile', checkProfile(v.value), v.span)) d.profile = v;
        return;
      }
      case 'packages':
        this.applyPackages(d, s.body ?? [], []);
        return;
      case 'repo':
        this.applyRepo(d, s);
        return;
      case 'settings':
        this.applySettings(d, s.body ?? []);
        return;
      case 'files': {
        const src = s.args[0];
        const dest = s.args[2];
        if (src?.kind !== 'string' || dest?.kind !== 'string') return;
        const bad = this.problem('path-escapes-root', checkRelativeSource(src.value), src.span);
        const badDest = this.problem('invalid-destination', checkAbsoluteTarget(dest.value, 'overlay destination'), dest.span);
        if (!bad && !badDest) d.overlays.push({ value: { src: this.fromFile(src.span.file, src.value), dest: posix.normalize(dest.value) }, span: s.span });
        return;
      }
      case 'sources':
        this.applySources(d, s);
        return;
      case 'waive': {
        const w = readWaiver(s, this.sink);
        if (w) d.waivers.push(w);
        return;
      }
      case 'script':
        this.applyScript(d, s);
        return;
      case 'output':
        this.applyOutput(d, s);
        return;
      case 'on':
        if (s.body) d.pendingOn.push({ arches: s.args, body: s.body });
        return;
      case 'license': {
        const v = str(s.args[1]);
        if (!v) return;
        if (!this.decls.policies.has(v.value)) {
          this.err('unknown-policy', `\`${v.value}\` is not a license policy`, v.span, didYouMean(v.value, this.decls.policies.keys()) ?? 'declare it with `license-policy NAME { ... }`');
          return;
        }
        d.policy = v;
        return;
      }
      case 'test':
        this.applyTest(d, s);
        return;
      case 'publish':
        this.applyPublish(d, s);
        return;
      case 'schedule': {
        const cronArg = s.args.find((a) => a.kind === 'string');
        const tzArg = s.args.filter((a) => a.kind === 'string')[1];
        if (cronArg?.kind !== 'string') return;
        const bad = this.problem('invalid-cron', checkCron(cronArg.value), cronArg.span);
        const tz = tzArg?.kind === 'string' ? tzArg.value : 'UTC';
        const badTz = tzArg ? this.problem('invalid-timezone', checkTimezone(tz), tzArg.span) : false;
        if (!bad && !badTz) d.schedule = { value: { cron: cronArg.value.trim(), timezone: tz }, span: s.span };
        return;
      }
      case 'emulate': {
        // The toolchain and the arch are known only per variant: compile.ts checks those.
        const t = s.args[1];
        if (t?.kind !== 'duration') return;
        if (t.value < LIMITS.minEmulateAfterMs || t.value > LIMITS.maxEmulateAfterMs) {
          this.err('duration-out-of-range', `emulate after ${t.text} is out of range (1s to 24h)`, t.span);
          return;
        }
        d.emulateAfter = { value: t.value, span: s.span };
        return;
      }
      case 'owner': {
        const kind = argText(a0);
        const who = argText(s.args[1]);
        if (kind === 'community') d.owner = { value: { kind: 'community' }, span: s.span };
        else if (kind === 'maintainer' && who) d.owner = { value: { kind: 'maintainer', team: who }, span: s.span };
        else if (kind === 'partner' && who) d.owner = { value: { kind: 'partner', name: who }, span: s.span };
        return;
      }
      default:
        return;
    }
  }

  /** A path written in `file`, as a path of the host (joined to the file's directory). */
  private fromFile(file: string, rel: string): string {
    return posix.normalize(posix.join(posix.dirname(file), rel));
  }

  /** Checks a template's braces and variables; false when it has problems. */
  private template(v: At<string>, known: readonly string[] = TEMPLATE_VARS): boolean {
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

  private applySources(d: Draft, s: Stmt): void {
    const a = s.args[0];
    if (a?.kind !== 'string') return;
    if (this.problem('path-escapes-root', checkRelativeSource(a.value), a.span)) return;
    if (/\.rpm$/.test(a.value) && !a.value.endsWith('.src.rpm')) {
      this.err('invalid-sources', `\`${a.value}\` is a binary package: \`sources\` takes source packages (.src.rpm) or a directory of them`, a.span, 'add binary packages through a `repo`');
      return;
    }
    const path = this.fromFile(a.span.file, a.value);
    if (!d.sources.some((x) => x.value === path)) d.sources.push({ value: path, span: a.span });
  }

  private applyPackages(d: Draft, items: readonly Stmt[], listStack: string[]): void {
    for (const item of items) {
      if (item.keyword === 'exclude') {
        for (const a of flatArgs(item.args)) {
          const name = argText(a);
          if (!name) continue;
          d.packages.delete(name);
          d.exclude.set(name, a.span);
        }
        continue;
      }
      const a = item.args[0];
      if (!a) continue;
      if (a.kind === 'ref') {
        const list = this.decls.lists.get(a.text);
        if (!list) {
          this.err('unknown-package-list', `\`@${a.text}\` is not a package list`, a.span, didYouMean(a.text, this.decls.lists.keys()) ?? 'declare it with `package-list NAME { ... }`');
          continue;
        }
        if (listStack.includes(a.text)) {
          this.err('package-list-cycle', `package lists include each other: ${[...listStack, a.text].map((n) => `@${n}`).join(' -> ')}`, a.span);
          continue;
        }
        this.applyPackages(d, list.body, [...listStack, a.text]);
        continue;
      }
      const name = argText(a);
      if (!name) continue;
      if (!d.packages.has(name)) d.packages.set(name, a.span);
      d.exclude.delete(name);
    }
  }

  private applyRepo(d: Draft, s: Stmt): void {
    const name = argText(s.args[0]);
    const url = s.args[1];
    if (!name || url?.kind !== 'string') return;
    if (!/^(https?|ftp|file|rsync):\/\/[^\s]+$/.test(url.value)) {
      this.err('invalid-url', `\`${url.value}\` is not a repository URL`, url.span, 'for example "https://repo.example.org/alt/p11"');
      return;
    }
    const repo: Repo = { name, url: url.value, components: [] };
    for (const o of s.body ?? []) {
      if (o.keyword === 'suite') repo.suite = argText(o.args[0]);
      else if (o.keyword === 'components') repo.components = flatArgs(o.args).map((a) => argText(a) ?? '').filter(Boolean);
      else if (o.keyword === 'key') {
        const k = o.args[0];
        if (k?.kind === 'string' && !this.problem('path-escapes-root', checkRelativeSource(k.value), k.span)) repo.key = this.fromFile(k.span.file, k.value);
      }
    }
    d.repos.set(name, { value: repo, span: s.span });
  }

  private applySettings(d: Draft, body: readonly Stmt[]): void {
    const st = d.settings;
    const seen = new Set<string>();
    for (const s of body) {
      const a = s.args[0];
      const v = a?.kind === 'string' ? { value: a.value, span: a.span } : undefined;
      if (['locale', 'timezone', 'hostname', 'keyboard', 'root-password'].includes(s.keyword)) {
        if (seen.has(s.keyword)) this.err('duplicate-property', `\`${s.keyword}\` is set twice in this block`, s.keywordSpan);
        seen.add(s.keyword);
      }
      switch (s.keyword) {
        case 'locale':
          if (v && !this.problem('invalid-locale', checkLocale(v.value), v.span)) st.locale = v;
          break;
        case 'timezone':
          if (v && !this.problem('invalid-timezone', checkTimezone(v.value), v.span)) st.timezone = v;
          break;
        case 'hostname':
          if (v) {
            this.template(v);
            if (!this.problem('invalid-hostname', checkHostname(v.value), v.span)) st.hostname = v;
          }
          break;
        case 'keyboard':
          if (v) st.keyboard = v;
          break;
        case 'root-password':
          if (v && !this.problem('invalid-password-hash', checkPasswordHash(v.value), v.span)) st.rootPasswordHash = v;
          break;
        case 'user':
          this.applyUser(d, s);
          break;
        case 'services':
          for (const o of s.body ?? []) {
            for (const x of flatArgs(o.args)) {
              const name = argText(x);
              if (!name) continue;
              const [add, remove] = o.keyword === 'enable' ? [st.enable, st.disable] : [st.disable, st.enable];
              remove.delete(name);
              if (!add.has(name)) add.set(name, x.span);
            }
          }
          break;
        default:
          break;
      }
    }
  }

  private applyUser(d: Draft, s: Stmt): void {
    const name = argText(s.args[0]);
    if (!name) return;
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
      this.err('invalid-user-name', `\`${name}\` is not a user name (lower case, up to 32 characters)`, s.args[0]?.span ?? s.span);
      return;
    }
    const user: User = { ...(d.settings.users.get(name) ?? { name, groups: [] }) };
    user.groups = [...user.groups];
    for (const o of s.body ?? []) {
      const a = o.args[0];
      if (o.keyword === 'groups') {
        for (const g of flatArgs(o.args)) {
          const t = argText(g);
          if (t && !user.groups.includes(t)) user.groups.push(t);
        }
      } else if (o.keyword === 'password' && a?.kind === 'string') {
        if (!this.problem('invalid-password-hash', checkPasswordHash(a.value), a.span)) user.passwordHash = a.value;
      } else if (o.keyword === 'shell' && a?.kind === 'string') {
        if (!this.problem('invalid-destination', checkAbsoluteTarget(a.value, 'login shell'), a.span)) user.shell = a.value;
      } else if (o.keyword === 'uid' && a?.kind === 'int') {
        if (a.value < 1000 || a.value > 60000) this.err('out-of-range', `uid ${a.value} is outside the range for people's accounts (1000-60000)`, a.span);
        else user.uid = a.value;
      }
    }
    d.settings.users.set(name, user);
  }

  private applyScript(d: Draft, s: Stmt): void {
    const stage = s.args[0];
    const strings = s.args.filter((a) => a.kind === 'string');
    const interp = strings[0];
    const text = strings[1];
    const inline = s.args.some((a) => a.kind === 'name' && a.text === 'inline');
    if (!stage || interp?.kind !== 'string' || text?.kind !== 'string') return;
    const stageName = argText(stage) ?? '';
    if (stageName !== 'post-install') {
      this.err('unknown-script-stage', `\`${stageName}\` is not a script stage`, stage.span, 'scripts run at `post-install`, inside the build root');
      return;
    }
    if (!/^\/[A-Za-z0-9._/+-]+$/.test(interp.value) || interp.value.split('/').includes('..')) {
      this.err('invalid-interpreter', `the interpreter \`${interp.value}\` must be an absolute path inside the build root`, interp.span, 'for example "/bin/sh"');
      return;
    }
    if (inline) {
      d.scripts.push({ value: { stage: 'post-install', interpreter: interp.value, inline: text.value }, span: s.span });
      return;
    }
    if (this.problem('path-escapes-root', checkRelativeSource(text.value), text.span)) return;
    d.scripts.push({ value: { stage: 'post-install', interpreter: interp.value, file: this.fromFile(text.span.file, text.value) }, span: s.span });
  }

  private applyOutput(d: Draft, s: Stmt): void {
    const fmtArg = s.args[0];
    const fmt = argText(fmtArg);
    if (!fmtArg || !fmt) return;
    if (!(OUTPUT_FORMATS as readonly string[]).includes(fmt)) {
      this.err('unknown-output-format', `\`${fmt}\` is not an output format`, fmtArg.span, didYouMean(fmt, OUTPUT_FORMATS) ?? `formats: ${OUTPUT_FORMATS.join(', ')}`);
      return;
    }
    const format = fmt as OutputFormat;
    // Options merge over the same format's options from a base.
    const out: Output = { ...(d.outputs.get(format)?.value ?? { format }) };
    for (const o of s.body ?? []) {
      if (!OUTPUT_OPTIONS[format].includes(o.keyword)) {
        const takes = OUTPUT_OPTIONS[format];
        this.err('unknown-output-option', `\`${o.keyword}\` is not an option of \`${format}\` outputs`, o.keywordSpan, takes.length ? `\`${format}\` takes ${takes.map((t) => `\`${t}\``).join(', ')}` : `\`${format}\` takes no options`);
        continue;
      }
      const a = o.args[0];
      if (o.keyword === 'size' && a?.kind === 'size') {
        if (a.value < LIMITS.minImageBytes || a.value > LIMITS.maxImageBytes) this.err('size-out-of-range', `size ${a.text} is out of range (64M to 16T)`, a.span);
        else out.sizeBytes = a.value;
      } else if (o.keyword === 'tag' && a?.kind === 'string') {
        this.template({ value: a.value, span: a.span });
        if (!/^[A-Za-z0-9_{}][A-Za-z0-9_.{}-]{0,127}$/.test(a.value)) this.err('invalid-tag', `\`${a.value}\` is not an image tag (letters, digits, _ . -; up to 128)`, a.span);
        else out.tag = a.value;
      } else if (o.keyword === 'compression' && a) {
        const c = argText(a) ?? '';
        if (!(COMPRESSIONS as readonly string[]).includes(c)) this.err('unknown-compression', `\`${c}\` is not a compression`, a.span, didYouMean(c, COMPRESSIONS) ?? `one of ${COMPRESSIONS.join(', ')}`);
        else out.compression = c as Output['compression'];
      }
    }
    d.outputs.set(format, { value: out, span: s.span });
  }

  private applyTest(d: Draft, s: Stmt): void {
    const kind = argText(s.args[0]);
    const opts = new Map<string, Arg>();
    for (const o of s.body ?? []) {
      const a = o.args[0];
      if (opts.has(o.keyword)) this.err('duplicate-property', `\`${o.keyword}\` is set twice in this test`, o.keywordSpan);
      if (a) opts.set(o.keyword, a);
    }
    const timeout = (fallback: number): number | undefined => {
      const t = opts.get('timeout');
      if (t?.kind !== 'duration') return fallback;
      if (t.value < LIMITS.minTestTimeoutMs || t.value > LIMITS.maxTestTimeoutMs) {
        this.err('duration-out-of-range', `timeout ${t.text} is out of range (1s to 24h)`, t.span);
        return undefined;
      }
      return t.value;
    };
    const onlyFor = (allowed: string[]): void => {
      for (const o of s.body ?? []) {
        if (!allowed.includes(o.keyword)) this.err('unknown-test-option', `\`${o.keyword}\` is not an option of \`test ${kind}\``, o.keywordSpan, `it takes ${allowed.map((x) => `\`${x}\``).join(', ')}`);
      }
    };
    if (kind === 'boot') {
      onlyFor(['timeout', 'expect']);
      const ms = timeout(600_000);
      const expect = opts.get('expect');
      if (ms === undefined) return;
      // One boot test per image: a later one (a child's) replaces the inherited one.
      d.tests = d.tests.filter((t) => t.value.type !== 'boot');
      d.tests.push({ value: { type: 'boot', timeoutMs: ms, expect: expect?.kind === 'string' ? expect.value : 'login:' }, span: s.span });
    } else if (kind === 'run') {
      onlyFor(['timeout', 'exit', 'output']);
      const parts = s.args.slice(1).filter((a): a is Extract<Arg, { kind: 'string' }> => a.kind === 'string');
      if (parts.length === 0) return;
      let argv: string[];
      const first = parts[0] as Extract<Arg, { kind: 'string' }>;
      if (parts.length === 1) {
        const split = splitCommand(first.value);
        if ('message' in split) {
          this.err('shell-syntax', split.message, first.span, split.hint);
          return;
        }
        argv = split.argv;
      } else {
        argv = parts.map((p) => p.value);
      }
      const exit = opts.get('exit');
      if (exit?.kind === 'int' && exit.value > 255) {
        this.err('exit-code-out-of-range', `exit code ${exit.value} is out of range (0-255)`, exit.span);
        return;
      }
      const ms = timeout(300_000);
      if (ms === undefined) return;
      const output = opts.get('output');
      d.tests.push({
        value: { type: 'run', argv, exitCode: exit?.kind === 'int' ? exit.value : 0, timeoutMs: ms, ...(output?.kind === 'string' ? { output: output.value } : {}) },
        span: s.span,
      });
    } else if (kind === 'reproducible') {
      if (!d.tests.some((t) => t.value.type === 'reproducible')) d.tests.push({ value: { type: 'reproducible' }, span: s.span });
    }
  }

  private applyPublish(d: Draft, s: Stmt): void {
    const kindArg = s.args[0];
    const dest = s.args[1];
    const kind = argText(kindArg);
    if (!kindArg || dest?.kind !== 'string') return;
    const at = { value: dest.value, span: dest.span };
    const keepArg = s.args[3];
    let keep: number | undefined;
    if (keepArg?.kind === 'int') {
      if (kind !== 'files') this.err('invalid-publish-option', '`keep` applies to `publish files` only', s.args[2]?.span ?? keepArg.span, 'a registry keeps what it is told to by its own retention');
      else if (keepArg.value < 1 || keepArg.value > MAX_KEEP) this.err('out-of-range', `keep ${keepArg.value} is out of range (1-${MAX_KEEP} versions)`, keepArg.span);
      else keep = keepArg.value;
    }
    if (kind === 'files') {
      // Problems the template has on its own stop here; those that depend on the values
      // (a version that is not one path segment) are found per variant (compile.ts).
      const ok = this.template(at, FILES_TEMPLATE_VARS);
      if (this.problem('path-escapes-root', checkAbsoluteTarget(dest.value, 'publish directory'), dest.span) || !ok) return;
      d.publish.push({ value: { target: 'files', path: dest.value, ...(keep ? { keep } : {}) }, span: s.span, pathSpan: dest.span });
    } else if (kind === 'registry') {
      const ok = this.template(at);
      if (this.problem('invalid-registry', checkRegistryRef(dest.value), dest.span) || !ok) return;
      d.publish.push({ value: { target: 'registry', repository: dest.value }, span: s.span, pathSpan: dest.span });
    } else {
      this.err('unknown-publish-target', `\`${kind}\` is not a publish target`, kindArg.span, didYouMean(kind ?? '', ['files', 'registry']) ?? 'targets are `files` and `registry`');
    }
  }
}

/** The arg after the keyword `word` among a statement's args (from index `from`). */
function argAfter(args: readonly Arg[], word: string, from: number): Arg | undefined {
  for (let i = from; i < args.length; i++) {
    const a = args[i] as Arg;
    if (a.kind === 'name' && a.text === word) return args[i + 1];
  }
  return undefined;
}

/**
 * A `waive PACKAGE owner "WHO" reason "WHY" until YYYY-MM-DD` statement's waiver, its
 * problems reported; undefined when it has any. The package name is checked by the caller,
 * which knows the toolchain.
 */
export function readWaiver(s: Stmt, sink: DiagnosticSink): WaiverAt | undefined {
  const pkg = s.args[0];
  const owner = argAfter(s.args, 'owner', 1);
  const reason = argAfter(s.args, 'reason', 1);
  const until = argAfter(s.args, 'until', 1);
  const name = argText(pkg);
  if (!pkg || !name || owner?.kind !== 'string' || reason?.kind !== 'string' || !until) return undefined;
  let ok = true;
  for (const [what, a] of [['an owner (who answers for it)', owner], ['a reason', reason]] as const) {
    if (a.value.trim() === '') {
      sink.error('invalid-waiver', `a waiver needs ${what}`, a.span, 'partners\' waivers are read by auditors: say who and why');
      ok = false;
    }
  }
  const date = argText(until) ?? '';
  if (until.kind === 'list' || !isCalendarDate(date)) {
    sink.error('invalid-date', `\`${date}\` is not a date`, until.span, /^\d{4}-\d{2}-\d{2}$/.test(date) ? 'there is no such day' : 'write it as YYYY-MM-DD, for example 2026-12-31');
    ok = false;
  }
  if (!ok) return undefined;
  return { value: { package: name, owner: owner.value, reason: reason.value, until: date }, span: s.span, packageSpan: pkg.span };
}
