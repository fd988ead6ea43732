// Rows of a product's (and variant's) own properties: identity, toolchain, arches, kernel,
// profile, `on` blocks, license, emulation, schedule, owner and waivers.
import { argText, flatArgs, type Arg, type Stmt } from '../ast';
import { type ToolchainName, TOOLCHAINS } from '../../plan/arches';
import type { DiagnosticSink } from '../diagnostics';
import { addUnique, type At, type Draft, type WaiverAt } from '../draft';
import { isCalendarDate, LIMITS } from '../../plan/literals';
import { didYouMean } from '../suggest';
import { checkCron, checkProfile, checkRelativeSource, checkTimezone } from '../values';
import { atString } from './apply';
import { BOTH, type Form, type Property } from './types';

/** `waive PACKAGE owner "WHO" reason "WHY" until YYYY-MM-DD`, in products and policies; a quoted name is taken so that it gets the package-name diagnostic. */
export const WAIVER_FORM: readonly Form[] = [{ or: [['NAME'], ['STRING']] }, { kw: 'owner' }, 'STRING', { kw: 'reason' }, 'STRING', { kw: 'until' }, 'NAME'];

export const IDENTITY: readonly Property<Draft>[] = [
  {
    keyword: 'title', block: 'product', form: ['STRING'], inOn: false, syntax: 'title "TEMPLATE"', merge: 'scalar', toolchains: BOTH,
    doc: 'the name people see; a template',
    apply: (ctx, d, s) => {
      const v = atString(s.args[0]);
      if (!v) return;
      ctx.template(v);
      d.title = v;
    },
  },
  {
    keyword: 'version', block: 'product', form: [{ or: [['STRING'], ['NAME']] }], inOn: false, syntax: 'version "VERSION"', merge: 'scalar', toolchains: BOTH,
    doc: 'the product\'s version, for `{version}`',
    apply: (_ctx, d, s) => {
      d.version = atString(s.args[0]) ?? d.version;
    },
  },
  {
    keyword: 'branch', block: 'product', form: ['NAME'], syntax: 'branch NAME', merge: 'scalar', toolchains: BOTH,
    doc: 'the ALT branch or Debian suite to build from',
    apply: (_ctx, d, s) => {
      d.branch = atString(s.args[0]) ?? d.branch;
    },
  },
  {
    keyword: 'toolchain', block: 'product', form: ['NAME'], inOn: false, syntax: 'toolchain alt | debian', merge: 'scalar', toolchains: BOTH,
    doc: 'which distribution\'s tools build it (default `alt`)',
    apply: (ctx, d, s) => {
      const v = atString(s.args[0]);
      if (!v) return;
      if (!(TOOLCHAINS as readonly string[]).includes(v.value)) {
        ctx.err('unknown-toolchain', `\`${v.value}\` is not a toolchain`, v.span, didYouMean(v.value, TOOLCHAINS) ?? 'toolchains are alt and debian');
        return;
      }
      d.toolchain = { value: v.value as ToolchainName, span: v.span };
    },
  },
  {
    keyword: 'arch', block: 'product', form: ['NAMES'], inOn: false, syntax: 'arch ARCH, ...', merge: 'list', toolchains: BOTH,
    doc: 'the architectures to build, one variant each',
    apply: (_ctx, d, s) => {
      for (const a of flatArgs(s.args)) {
        const v = atString(a);
        if (v) addUnique(d.arches, v, (x) => x.value);
      }
    },
  },
  {
    keyword: 'kernel', block: 'product', form: ['NAMES'], syntax: 'kernel FLAVOUR, ...', merge: 'scalar', toolchains: BOTH,
    doc: 'the kernel flavours; several build once each',
    apply: (_ctx, d, s) => {
      d.kernels = flatArgs(s.args).map(atString).filter((x): x is At<string> => !!x);
    },
  },
  {
    keyword: 'profile', block: 'product', form: ['NAME'], syntax: 'profile KIND/TARGET', merge: 'scalar', toolchains: ['alt'],
    doc: 'the mkimage-profiles target that builds the image',
    apply: (ctx, d, s) => {
      const v = atString(s.args[0]);
      if (v && !ctx.problem('invalid-profile', checkProfile(v.value), v.span)) d.profile = v;
    },
  },
  {
    keyword: 'profiles-tree', block: 'product', form: ['STRING'], inOn: false, syntax: 'profiles-tree "PATH"', merge: 'scalar', toolchains: ['alt'],
    doc: 'the recipe\'s own mkimage-profiles tree (a fork), relative to the recipe; its targets are checked on the worker, not against the catalogue',
    apply: (ctx, d, s) => {
      const a = s.args[0];
      if (a?.kind !== 'string' || ctx.problem('path-escapes-root', checkRelativeSource(a.value), a.span)) return;
      d.profilesTree = { value: ctx.fromFile(a.span.file, a.value), span: a.span };
    },
  },
];

export const ON: Property<Draft> = {
  keyword: 'on', block: 'product', form: ['NAMES', { body: 'product' }], inOn: false, syntax: 'on ARCH, ... { PROPERTIES }', merge: 'per-arch', toolchains: BOTH,
  doc: 'properties for some architectures only',
  // Kept until the arch is known: the resolver applies (or only checks) them.
  apply: (_ctx, d, s) => {
    if (s.body) d.pendingOn.push({ arches: s.args, body: s.body });
  },
};

export const GOVERNANCE: readonly Property<Draft>[] = [
  {
    keyword: 'license', block: 'product', form: [{ kw: 'policy' }, 'NAME'], syntax: 'license policy NAME', merge: 'scalar', toolchains: BOTH,
    doc: 'checks every package\'s license against a policy',
    apply: (ctx, d, s) => {
      const v = atString(s.args[1]);
      if (!v) return;
      if (!ctx.policies.has(v.value)) {
        ctx.err('unknown-policy', `\`${v.value}\` is not a license policy`, v.span, didYouMean(v.value, ctx.policies.keys()) ?? 'declare it with `license-policy NAME { ... }`');
        return;
      }
      d.policy = v;
    },
  },
  {
    keyword: 'waive', block: 'product', rule: 'waiver', form: WAIVER_FORM, syntax: 'waive PACKAGE owner "WHO" reason "WHY" until YYYY-MM-DD', merge: 'append', toolchains: BOTH,
    doc: 'lets one package pass the license check until a date',
    apply: (ctx, d, s) => {
      const w = readWaiver(s, ctx.sink);
      if (w) d.waivers.push(w);
    },
  },
  {
    keyword: 'emulate', block: 'product', form: [{ kw: 'after' }, 'DURATION'], syntax: 'emulate after DURATION', merge: 'scalar', toolchains: ['alt'],
    doc: 'falls back to an emulating host when no native one takes a step in time',
    apply: (ctx, d, s) => {
      // The toolchain and the arch are known only per variant: compile.ts checks those.
      const t = s.args[1];
      if (t?.kind !== 'duration') return;
      if (t.value < LIMITS.minEmulateAfterMs || t.value > LIMITS.maxEmulateAfterMs) {
        ctx.err('duration-out-of-range', `emulate after ${t.text} is out of range (1s to 24h)`, t.span);
        return;
      }
      d.emulateAfter = { value: t.value, span: s.span };
    },
  },
  {
    keyword: 'schedule', block: 'product', form: [{ opt: ['NAME'] }, 'STRING', { opt: [{ kw: 'timezone' }, 'STRING'] }], inOn: false, syntax: 'schedule [LABEL] "CRON" [timezone "ZONE"]', merge: 'scalar', toolchains: BOTH,
    doc: 'builds the product regularly',
    apply: (ctx, d, s) => {
      const cronArg = s.args.find((a) => a.kind === 'string');
      const tzArg = s.args.filter((a) => a.kind === 'string')[1];
      if (cronArg?.kind !== 'string') return;
      const bad = ctx.problem('invalid-cron', checkCron(cronArg.value), cronArg.span);
      const tz = tzArg?.kind === 'string' ? tzArg.value : 'UTC';
      const badTz = tzArg ? ctx.problem('invalid-timezone', checkTimezone(tz), tzArg.span) : false;
      if (!bad && !badTz) d.schedule = { value: { cron: cronArg.value.trim(), timezone: tz }, span: s.span };
    },
  },
  {
    keyword: 'owner', block: 'product', form: [{ or: [[{ kw: 'community' }], [{ kw: 'maintainer' }, 'NAME'], [{ kw: 'partner' }, 'NAME']] }], inOn: false, syntax: 'owner community | maintainer TEAM | partner NAME', merge: 'scalar', toolchains: BOTH,
    doc: 'who the product is for',
    apply: (_ctx, d, s) => {
      const kind = argText(s.args[0]);
      const who = argText(s.args[1]);
      if (kind === 'community') d.owner = { value: { kind: 'community' }, span: s.span };
      else if (kind === 'maintainer' && who) d.owner = { value: { kind: 'maintainer', team: who }, span: s.span };
      else if (kind === 'partner' && who) d.owner = { value: { kind: 'partner', name: who }, span: s.span };
    },
  },
];

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
