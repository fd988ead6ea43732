// The compiler's front door: files → diagnostics and resolved products. Loads the files
// and their imports, collects declarations, checks license policies and package lists,
// resolves every product and variant for each of its arches and kernel flavours.
// Never throws on any input: every problem is a diagnostic.
import { posix } from 'node:path';
import { checkRegistryReference, isValidTag } from '../publish/oci';
import { checkFilesTemplate } from '../publish/template';
import { argText, flatArgs } from './ast';
import { archSpellings, canBeEmulated, canonicalArch, TOOLCHAINS, type ToolchainName } from '../plan/arches';
import { sha256Hex } from '../plan/cache-key';
import { archRefusal, formatsBuiltBy, type OutputFormat, secureBootRefusal } from '../plan/formats';
import { collectDeclarations, type Decl, type Declarations } from './declarations';
import { type Diagnostic, DiagnosticSink, sortDiagnostics } from './diagnostics';
import { loadRecipes, type LoadedFile, type SourceHost } from './load';
import type { LicensePolicy, ResolvedVariant } from '../plan/model';
import { Name } from '../plan/schemas';
import { expand, hasTag, multiArchTag, variantId } from '../plan/naming';
import { type Draft, emptyDraft, readWaiver, Resolver } from './resolve';
import type { SourceFile, Span } from './source';
import { didYouMean } from './suggest';
import { checkAltTargets } from './alt-targets';
import { checkSecureBoot } from './secure-boot-check';
import { STRING_SETTING_FIELDS } from './properties';
import { checkBranch, checkLicenseId, checkPackageName, templateRefs } from './values';

export type { SourceHost };

export interface Compilation {
  files: LoadedFile[];
  sources: Map<string, SourceFile>;
  diagnostics: Diagnostic[];
  errorCount: number;
  decls: Declarations;
  /** Products and variants that can be built (they have outputs), in declaration order. */
  buildable: string[];
  /** Every (arch × kernel flavour) of a buildable product, resolved; empty when it has errors. */
  variants: Map<string, ResolvedVariant[]>;
  /** sha256 over the texts of every file read, in load order. */
  digest: string;
}

export function compile(entries: readonly string[], host: SourceHost): Compilation {
  const sink = new DiagnosticSink();
  let files: LoadedFile[] = [];
  let decls: Declarations = { products: new Map(), policies: new Map(), lists: new Map() };
  const variants = new Map<string, ResolvedVariant[]>();
  const buildable: string[] = [];
  try {
    files = loadRecipes(entries, host, sink);
    decls = collectDeclarations(files, sink);
    const policies = checkPolicies(decls, sink);
    const resolver = new Resolver(decls, sink);
    for (const list of decls.lists.values()) resolver.applyBody(emptyDraft(), [{ ...list.stmt, keyword: 'packages', body: list.body }], 'product');
    for (const decl of decls.products.values()) {
      const resolved = resolveProduct(decl, resolver, policies, sink);
      if (resolved) {
        buildable.push(decl.name);
        variants.set(decl.name, resolved);
      }
    }
  } catch (e) {
    // A bug of ours must still not take the maintainer's terminal down with a stack trace.
    const err = e as Error;
    sink.error('internal', `internal compiler error: ${err?.message ?? String(e)}`, { file: entries[0] ?? '', offset: 0, length: 0, line: 1, col: 1 }, 'please report this with the recipe that caused it');
  }
  const diagnostics = sortDiagnostics(sink.items);
  const errorCount = diagnostics.filter((d) => d.severity === 'error').length;
  if (errorCount > 0) variants.clear();
  return {
    files,
    sources: new Map(files.map((f) => [f.path, f.source])),
    diagnostics,
    errorCount,
    decls,
    buildable: errorCount > 0 ? [] : buildable,
    variants,
    digest: sha256Hex(files.map((f) => textDigest(f.source)).join('\n')),
  };
}

/** A file's sha256, once per parse: a host's cached parses (SourceHost.parses) keep theirs. */
const digests = new WeakMap<SourceFile, string>();
function textDigest(source: SourceFile): string {
  let d = digests.get(source);
  if (d === undefined) digests.set(source, (d = sha256Hex(source.text)));
  return d;
}

function checkPolicies(decls: Declarations, sink: DiagnosticSink): Map<string, LicensePolicy> {
  const out = new Map<string, LicensePolicy>();
  for (const decl of decls.policies.values()) {
    const policy: LicensePolicy = { name: decl.name, allow: [], review: [], deny: [], unknown: 'review', waivers: [] };
    const where = new Map<string, string>();
    for (const s of decl.body) {
      if (s.keyword === 'waive') {
        const w = readWaiver(s, sink);
        // A policy serves either toolchain: its waivers need only be valid RPM names (Debian's are a subset).
        const p = w && checkPackageName('alt', w.value.package);
        if (p && w) sink.error('invalid-package-name', p.message, w.packageSpan, p.hint);
        else if (w) policy.waivers.push(w.value);
        continue;
      }
      if (s.keyword === 'unknown') {
        const v = argText(s.args[0]) ?? '';
        if (v === 'allow' || v === 'review' || v === 'deny') policy.unknown = v;
        else sink.error('invalid-policy-rule', `\`unknown ${v}\`: unknown licenses can be \`allow\`, \`review\` or \`deny\``, s.args[0]?.span ?? s.span, didYouMean(v, ['allow', 'review', 'deny']));
        continue;
      }
      const rule = s.keyword as 'allow' | 'review' | 'deny';
      if (!['allow', 'review', 'deny'].includes(rule)) continue;
      for (const a of flatArgs(s.args)) {
        const id = argText(a) ?? '';
        const p = checkLicenseId(id);
        if (p) {
          sink.error('invalid-license-id', p.message, a.span, p.hint);
          continue;
        }
        const prev = where.get(id);
        if (prev && prev !== rule) {
          sink.error('conflicting-license-rule', `\`${id}\` is under both \`${prev}\` and \`${rule}\``, a.span, 'a license can have one rule only');
          continue;
        }
        if (!prev) policy[rule].push(id);
        where.set(id, rule);
      }
    }
    out.set(decl.name, policy);
  }
  return out;
}

const DEBIAN_OUTPUTS = new Set<string>(formatsBuiltBy('debian'));

/** Checks a product or variant and resolves it per arch and flavour; undefined if it is a base only. */
function resolveProduct(decl: Decl, resolver: Resolver, policies: Map<string, LicensePolicy>, sink: DiagnosticSink): ResolvedVariant[] | undefined {
  const draft = resolver.draft(decl);
  if (!draft) return undefined;
  const toolchain: ToolchainName = draft.toolchain?.value ?? 'alt';
  const buildable = draft.outputs.size > 0;
  const arches: { written: string; span: Span }[] = [];
  for (const a of draft.arches) {
    if (canonicalArch(toolchain, a.value)) {
      arches.push({ written: a.value, span: a.span });
      continue;
    }
    const other = TOOLCHAINS.find((t) => t !== toolchain && canonicalArch(t, a.value));
    sink.error(
      'unknown-arch',
      `\`${a.value}\` is not an architecture the ${toolchain} toolchain builds`,
      a.span,
      didYouMean(a.value, archSpellings(toolchain)) ?? (other ? `only the ${other} toolchain builds \`${a.value}\`; ${toolchain} builds ${archSpellings(toolchain).join(', ')}` : `${toolchain} builds ${archSpellings(toolchain).join(', ')}`),
    );
  }
  checkDraft(decl, draft, toolchain, buildable, sink);
  if (!buildable) return undefined;

  const flavours = draft.kernels?.length ? draft.kernels : [undefined];
  for (const f of flavours) {
    if (f && !Name.safeParse(f.value).success) sink.error('invalid-name', `\`${f.value}\` cannot name a kernel flavour`, f.span);
  }
  const rootDir = posix.dirname(decl.file);
  const out: ResolvedVariant[] = [];
  const seen = new Set<string>();
  for (const a of arches) {
    const arch = canonicalArch(toolchain, a.written);
    if (!arch || seen.has(arch)) continue;
    seen.add(arch);
    const perArch = resolver.draft(decl, a.written);
    if (!perArch) continue;
    // The same draft (no `on` block for the arch) was checked above, with the same result.
    if (perArch !== draft) checkDraft(decl, perArch, toolchain, true, sink);
    checkEmulation(decl, perArch, toolchain, arch, sink);
    checkOutputArch(perArch, toolchain, arch, a, sink);
    checkSecureBoot(perArch, toolchain, arch, rootDir, sink);
    checkAltTargets(perArch, toolchain, arch, sink);
    const kernels = perArch.kernels?.length ? perArch.kernels.map((k) => k.value) : [undefined];
    for (const kernel of kernels) {
      const v = finish(decl, perArch, toolchain, arch, kernel, policies, rootDir);
      checkResolved(v, perArch, rootDir, sink);
      out.push(v);
    }
  }
  return out;
}

function checkDraft(decl: Decl, d: Draft, toolchain: ToolchainName, buildable: boolean, sink: DiagnosticSink): void {
  // Loops, not one spread array of pairs: a draft's packages are checked per variant.
  const checkName = (span: Span, name: string): void => {
    const p = checkPackageName(toolchain, name);
    if (p) sink.error('invalid-package-name', p.message, span, p.hint);
  };
  d.packages.forEach(checkName);
  d.exclude.forEach(checkName);
  for (const w of d.waivers) checkName(w.packageSpan, w.value.package);
  if (toolchain !== 'alt') {
    for (const src of d.sources) sink.error('sources-need-alt', `only the alt toolchain builds source packages; \`${decl.name}\` builds with ${toolchain}`, src.span, 'add the built packages through a `repo` instead');
  }
  if (d.branch) {
    const p = checkBranch(toolchain, d.branch.value);
    if (p) sink.error('unknown-branch', p.message, d.branch.span, p.hint);
  }
  const templates = [d.title, d.settings.hostname, ...d.publish.map((p) => ({ value: p.value.target === 'files' ? p.value.path : p.value.repository, span: p.span }))];
  for (const o of d.outputs.values()) if (o.value.tag) templates.push({ value: o.value.tag, span: o.span });
  if (!d.version) {
    for (const t of templates) {
      if (t && templateRefs(t.value).some((r) => r.name === 'version')) {
        sink.error('template-needs-version', `\`{version}\` is used but \`${decl.name}\` sets no \`version\``, t.span, 'add `version "..."` to the product');
      }
    }
  }
  if (!buildable) return;
  if (d.arches.length === 0) sink.error('missing-arch', `\`${decl.name}\` has outputs but no \`arch\``, decl.nameSpan, 'add for example `arch x86_64`');
  if (!d.branch) sink.error('missing-branch', `\`${decl.name}\` has outputs but no \`branch\``, decl.nameSpan, toolchain === 'alt' ? 'add for example `branch p11`' : 'add for example `branch bookworm`');
  if (toolchain === 'alt' && !d.profile) sink.error('missing-profile', `\`${decl.name}\` builds with the alt toolchain but names no mkimage-profiles \`profile\``, decl.nameSpan, 'add for example `profile distro/regular-server-systemd`');
  if (toolchain === 'debian') {
    for (const [fmt, o] of d.outputs) {
      if (!DEBIAN_OUTPUTS.has(fmt)) sink.error('unsupported-output', `the debian toolchain writes no \`${fmt}\` images`, o.span, `it writes ${[...DEBIAN_OUTPUTS].join(', ')}`);
    }
  }
  if (!d.policy) {
    for (const w of d.waivers) sink.error('waiver-without-policy', `\`${decl.name}\` waives \`${w.value.package}\` but has no \`license policy\` to waive it from`, w.span, 'add `license policy NAME`, or move the waiver into the policy');
  }
  if (d.publish.some((p) => p.value.target === 'registry') && !d.outputs.has('oci')) {
    const p = d.publish.find((x) => x.value.target === 'registry');
    if (p) sink.error('registry-needs-oci', 'publishing to a registry needs an `oci` output', p.span, 'add `output oci`');
  }
}

/**
 * `emulate after` sends steps to alt hosts that emulate the arch under qemu-user. The debian
 * toolchain needs no such host (it emulates in a VM wherever it runs), and e2k has no qemu-user.
 */
/** A format the toolchain builds on some arches only (plan/formats.ts, the row's `arches`). */
function checkOutputArch(d: Draft, toolchain: ToolchainName, arch: string, written: { written: string; span: Span }, sink: DiagnosticSink): void {
  for (const [fmt, o] of d.outputs) {
    const why = DEBIAN_OUTPUTS.has(fmt) || toolchain !== 'debian' ? archRefusal(fmt as OutputFormat, toolchain, arch) : undefined;
    if (why) sink.error('unsupported-output-arch', why, o.span, `drop \`${written.written}\` from \`arch\` (line ${written.span.line}), or this output`);
    const sb = !why && o.value.secureBoot ? secureBootRefusal(fmt as OutputFormat, toolchain, arch) : undefined;
    if (sb) sink.error('unsupported-secure-boot', sb, o.span, `drop \`${written.written}\` from \`arch\` (line ${written.span.line}), or \`secure-boot on\``);
  }
}

function checkEmulation(decl: Decl, d: Draft, toolchain: ToolchainName, arch: ResolvedVariant['arch'], sink: DiagnosticSink): void {
  const at = d.emulateAfter;
  if (!at) return;
  if (toolchain !== 'alt') {
    sink.error(
      'emulate-needs-alt',
      `\`emulate after\` is for the alt toolchain; \`${decl.name}\` builds with ${toolchain}, which runs foreign architectures in a qemu VM on any host`,
      at.span,
      'remove it: a debian build never waits for a native worker',
    );
  } else if (!canBeEmulated(arch)) {
    sink.error(
      'cannot-emulate-e2k',
      `\`${arch}\` cannot be emulated: e2k steps build only on e2k hosts that declare it`,
      at.span,
      'e2k builds only on e2k hosts: set `emulate after` only in `on ARCH { ... }` blocks of the other arches',
    );
  }
}

/** Checks that need the values of one resolved variant: paths after expansion, escapes from the plan's directory. */
function checkResolved(v: ResolvedVariant, d: Draft, rootDir: string, sink: DiagnosticSink): void {
  const id = variantId(v);
  const values = { product: v.product, arch: v.arch, branch: v.branch, variant: id, ...(v.version !== undefined ? { version: v.version } : {}) };
  // Messages name the values, not the variant: a problem every variant shares is reported once.
  for (const p of d.publish) {
    if (p.value.target === 'files') {
      // The publishing step's own check (publish/template.ts), here so that a bad path fails `check`, not a build.
      const problems = checkFilesTemplate(p.value.path, values);
      if (problems.length > 0) sink.error('invalid-publish-path', `publish path \`${p.value.path}\`: ${problems.join('; ')}`, p.pathSpan);
    } else if (v.version !== undefined || !p.value.repository.includes('{version}')) {
      // (Without a version, template-needs-version has said it already.)
      const expanded = expand(p.value.repository, v, id);
      const problems = checkRegistryReference(expanded);
      const hint = p.value.repository.includes('{date}') ? '`{date}` is filled in `publish files` paths only' : undefined;
      if (problems.length > 0) sink.error('invalid-registry', problems.join('; '), p.pathSpan, hint);
      const tag = hasTag(expanded) ? undefined : multiArchTag(v, id);
      if (tag !== undefined && !isValidTag(tag)) sink.error('invalid-tag', `the multi-arch tag of \`${expanded}\` would be \`${tag}\`, which is not an image tag`, p.pathSpan, 'give the reference its own tag, or change the `oci` output\'s');
    }
  }
  for (const o of d.outputs.values()) {
    const tag = o.value.tag;
    if (tag !== undefined && (v.version !== undefined || !tag.includes('{version}')) && !isValidTag(expand(tag, v, id))) sink.error('invalid-tag', `tag \`${tag}\` becomes \`${expand(tag, v, id)}\`, which is not an image tag`, o.span, 'a tag is letters, digits, _ . - (up to 128), starting with a letter, digit or _');
  }
  // Plan paths are relative to the directory of the recipe that declares the product.
  for (const src of d.sources) {
    if (posix.relative(rootDir, src.value).split('/').includes('..')) {
      sink.error('path-escapes-root', `\`${src.value}\` lies outside \`${rootDir || '.'}\`, the directory of the recipe that declares \`${v.product}\``, src.span, 'keep source packages in or under that directory');
    }
  }
}

function finish(
  decl: Decl,
  d: Draft,
  toolchain: ToolchainName,
  arch: ResolvedVariant['arch'],
  kernel: string | undefined,
  policies: Map<string, LicensePolicy>,
  rootDir: string,
): ResolvedVariant {
  // Paths are mostly in the recipe's own directory; posix.relative is the costly part of a variant.
  const relOf = new Map<string, string>();
  const rel = (p: string): string => {
    let r = relOf.get(p);
    if (r === undefined) relOf.set(p, (r = posix.relative(rootDir, p) || '.'));
    return r;
  };
  const s = d.settings;
  const policy = d.policy ? policies.get(d.policy.value) : undefined;
  // Optional fields are set only when present, in the schema's order (as spreads would, at a fraction of the cost).
  const v: Partial<ResolvedVariant> & Record<string, unknown> = { product: decl.name };
  if (decl.kind === 'variant' && decl.base) v.variantOf = decl.base.name;
  if (d.title) v.title = d.title.value;
  if (d.version) v.version = d.version.value;
  v.branch = d.branch?.value ?? '';
  v.toolchain = toolchain;
  v.arch = arch;
  v.flavour = kernel ?? 'default';
  if (kernel) v.kernel = kernel;
  if (d.profile) v.profile = d.profile.value;
  if (d.profilesTree) v.profilesTree = rel(d.profilesTree.value);
  v.packages = [...d.packages.keys()];
  v.exclude = [...d.exclude.keys()];
  v.repos = [...d.repos.values()].map((r) => (r.value.key ? { ...r.value, key: rel(r.value.key) } : { ...r.value }));
  v.sources = d.sources.map((x) => rel(x.value));
  const settings: Partial<ResolvedVariant['settings']> = {};
  for (const f of STRING_SETTING_FIELDS) {
    const x = s[f];
    if (x) settings[f] = x.value;
  }
  settings.users = [...s.users.values()];
  settings.enableServices = [...s.enable.keys()];
  settings.disableServices = [...s.disable.keys()];
  v.settings = settings as ResolvedVariant['settings'];
  v.overlays = d.overlays.map((o) => ({ src: rel(o.value.src), dest: o.value.dest }));
  v.scripts = d.scripts.map((x) => (x.value.file ? { ...x.value, file: rel(x.value.file) } : x.value));
  // A Secure Boot key and cert are recipe files: relative to the declaring recipe's directory, as the others.
  v.outputs = [...d.outputs.values()].map(({ value: o }) => (typeof o.secureBoot === 'object' ? { ...o, secureBoot: { key: rel(o.secureBoot.key), cert: rel(o.secureBoot.cert) } } : o));
  if (policy) v.licensePolicy = { ...policy, waivers: [...policy.waivers, ...d.waivers.map((w) => w.value)] };
  v.tests = d.tests.map((t) => t.value);
  v.publish = d.publish.map((p) => p.value);
  if (d.schedule) v.schedule = d.schedule.value;
  v.owner = d.owner?.value ?? { kind: 'community' };
  if (d.emulateAfter) v.emulateAfterMs = d.emulateAfter.value;
  return v as ResolvedVariant;
}
