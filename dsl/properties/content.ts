// Rows of what goes into the image: packages (and the package block's items), repositories
// (and their options), source packages, overlays and scripts.
import { posix } from 'node:path';
import { argText, flatArgs, type Stmt } from '../ast';
import { addUnique, type Draft } from '../draft';
import type { Repo } from '../../plan/model';
import { didYouMean } from '../suggest';
import { checkAbsoluteTarget, checkRelativeSource } from '../values';
import { applyBlock } from './apply';
import { BOTH, type Ctx, type Property } from './types';

/** A `packages` block (or a package list) being applied: the lists it came through, for cycles. */
export interface PackagesTarget {
  draft: Draft;
  listStack: string[];
}

export const PACKAGE_ITEMS: readonly Property<PackagesTarget>[] = [
  {
    keyword: '', block: 'packages', form: [{ or: [['REF'], ['NAME'], ['STRING']] }], syntax: 'NAME | "NAME" | @LIST', merge: 'list', toolchains: BOTH,
    doc: 'a package to install, or every package of a list',
    apply: (ctx, t, item) => {
      const a = item.args[0];
      if (!a) return;
      if (a.kind === 'ref') {
        const list = ctx.lists.get(a.text);
        if (!list) {
          ctx.err('unknown-package-list', `\`@${a.text}\` is not a package list`, a.span, didYouMean(a.text, ctx.lists.keys()) ?? 'declare it with `package-list NAME { ... }`');
          return;
        }
        if (t.listStack.includes(a.text)) {
          ctx.err('package-list-cycle', `package lists include each other: ${[...t.listStack, a.text].map((n) => `@${n}`).join(' -> ')}`, a.span);
          return;
        }
        applyPackages(ctx, { draft: t.draft, listStack: [...t.listStack, a.text] }, list.body);
        return;
      }
      const name = argText(a);
      if (!name) return;
      if (!t.draft.packages.has(name)) t.draft.packages.set(name, a.span);
      t.draft.exclude.delete(name);
    },
  },
  {
    keyword: 'exclude', block: 'packages', form: ['WORDS'], syntax: 'exclude NAME, ...', merge: 'exclude', toolchains: BOTH,
    doc: 'removes packages a base, a list or the profile brings in',
    apply: (_ctx, t, item) => {
      for (const a of flatArgs(item.args)) {
        const name = argText(a);
        if (!name) continue;
        t.draft.packages.delete(name);
        t.draft.exclude.set(name, a.span);
      }
    },
  },
];

export function applyPackages(ctx: Ctx, t: PackagesTarget, items: readonly Stmt[]): void {
  applyBlock(ctx, PACKAGE_ITEMS, 'packages', t, items);
}

export const REPO_OPTIONS: readonly Property<Repo>[] = [
  {
    keyword: 'suite', block: 'repo', form: ['NAME'], syntax: 'suite NAME', merge: 'scalar', toolchains: BOTH,
    doc: 'its branch or suite (default: the product\'s `branch`)',
    apply: (_ctx, repo, o) => {
      repo.suite = argText(o.args[0]);
    },
  },
  {
    keyword: 'components', block: 'repo', form: ['NAMES'], syntax: 'components NAME, ...', merge: 'scalar', toolchains: BOTH,
    doc: 'its components',
    apply: (_ctx, repo, o) => {
      repo.components = flatArgs(o.args).map((a) => argText(a) ?? '').filter(Boolean);
    },
  },
  {
    keyword: 'key', block: 'repo', form: ['STRING'], syntax: 'key "FILE"', merge: 'scalar', toolchains: BOTH,
    doc: 'the file with its signing key, relative to the recipe',
    apply: (ctx, repo, o) => {
      const k = o.args[0];
      if (k?.kind === 'string' && !ctx.problem('path-escapes-root', checkRelativeSource(k.value), k.span)) repo.key = ctx.fromFile(k.span.file, k.value);
    },
  },
];

export const CONTENT: readonly Property<Draft>[] = [
  {
    keyword: 'packages', block: 'product', form: [{ body: 'packages' }], syntax: 'packages { NAME | @LIST | exclude NAME, ... }', merge: 'block', toolchains: BOTH,
    doc: 'packages to install besides the profile\'s',
    apply: (ctx, d, s) => applyPackages(ctx, { draft: d, listStack: [] }, s.body ?? []),
  },
  {
    keyword: 'repo', block: 'product', form: ['NAME', 'STRING', { opt: [{ body: 'repo' }] }], syntax: 'repo NAME "URL" [{ OPTIONS }]', merge: 'replace-by-name', toolchains: BOTH,
    doc: 'an extra package repository',
    apply: (ctx, d, s) => {
      const name = argText(s.args[0]);
      const url = s.args[1];
      if (!name || url?.kind !== 'string') return;
      if (!/^(https?|ftp|file|rsync):\/\/[^\s]+$/.test(url.value)) {
        ctx.err('invalid-url', `\`${url.value}\` is not a repository URL`, url.span, 'for example "https://repo.example.org/alt/p11"');
        return;
      }
      const repo: Repo = { name, url: url.value, components: [] };
      applyBlock(ctx, REPO_OPTIONS, 'repo', repo, s.body ?? []);
      d.repos.set(name, { value: repo, span: s.span });
    },
  },
  {
    keyword: 'sources', block: 'product', form: ['STRING'], syntax: 'sources "PATH"', merge: 'list', toolchains: ['alt'],
    doc: 'source packages to build first, their packages joining the repositories',
    apply: (ctx, d, s) => {
      const a = s.args[0];
      if (a?.kind !== 'string') return;
      if (ctx.problem('path-escapes-root', checkRelativeSource(a.value), a.span)) return;
      if (/\.rpm$/.test(a.value) && !a.value.endsWith('.src.rpm')) {
        ctx.err('invalid-sources', `\`${a.value}\` is a binary package: \`sources\` takes source packages (.src.rpm) or a directory of them`, a.span, 'add binary packages through a `repo`');
        return;
      }
      const path = ctx.fromFile(a.span.file, a.value);
      addUnique(d.sources, { value: path, span: a.span }, (x) => x.value);
    },
  },
  {
    keyword: 'files', block: 'product', form: ['STRING', 'ARROW', 'STRING'], syntax: 'files "SOURCE" -> "/DESTINATION"', merge: 'append', toolchains: BOTH,
    doc: 'copies a file or directory tree into the image',
    apply: (ctx, d, s) => {
      const src = s.args[0];
      const dest = s.args[2];
      if (src?.kind !== 'string' || dest?.kind !== 'string') return;
      const bad = ctx.problem('path-escapes-root', checkRelativeSource(src.value), src.span);
      const badDest = ctx.problem('invalid-destination', checkAbsoluteTarget(dest.value, 'overlay destination'), dest.span);
      if (!bad && !badDest) d.overlays.push({ value: { src: ctx.fromFile(src.span.file, src.value), dest: posix.normalize(dest.value) }, span: s.span });
    },
  },
  {
    keyword: 'script', block: 'product', form: ['NAME', 'STRING', { opt: [{ kw: 'inline' }] }, 'STRING'], syntax: 'script post-install "/INTERPRETER" [inline] "FILE-OR-TEXT"', merge: 'append', toolchains: BOTH,
    doc: 'a script run in the build root after the packages and overlays',
    apply: (ctx, d, s) => {
      const stage = s.args[0];
      const strings = s.args.filter((a) => a.kind === 'string');
      const interp = strings[0];
      const text = strings[1];
      const inline = s.args.some((a) => a.kind === 'name' && a.text === 'inline');
      if (!stage || interp?.kind !== 'string' || text?.kind !== 'string') return;
      const stageName = argText(stage) ?? '';
      if (stageName !== 'post-install') {
        ctx.err('unknown-script-stage', `\`${stageName}\` is not a script stage`, stage.span, 'scripts run at `post-install`, inside the build root');
        return;
      }
      if (!/^\/[A-Za-z0-9._/+-]+$/.test(interp.value) || interp.value.split('/').includes('..')) {
        ctx.err('invalid-interpreter', `the interpreter \`${interp.value}\` must be an absolute path inside the build root`, interp.span, 'for example "/bin/sh"');
        return;
      }
      if (inline) {
        d.scripts.push({ value: { stage: 'post-install', interpreter: interp.value, inline: text.value }, span: s.span });
        return;
      }
      if (ctx.problem('path-escapes-root', checkRelativeSource(text.value), text.span)) return;
      d.scripts.push({ value: { stage: 'post-install', interpreter: interp.value, file: ctx.fromFile(text.span.file, text.value) }, span: s.span });
    },
  },
];
