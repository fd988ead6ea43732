// A product's properties while its layers are applied: every value keeps the span it was
// written at, for the checks that need the whole product (compile.ts).
import type { Arg, Stmt } from './ast';
import type { ToolchainName } from '../plan/arches';
import type { Output, Repo, Script, Test, PublishTarget, User, Waiver } from '../plan/model';
import type { Span } from './source';
import type { OutputFormat } from './values';

export interface At<T> {
  value: T;
  span: Span;
}

export interface WaiverAt extends At<Waiver> {
  packageSpan: Span;
}

export interface Draft {
  title?: At<string>;
  version?: At<string>;
  branch?: At<string>;
  toolchain?: At<ToolchainName>;
  arches: At<string>[];
  kernels?: At<string>[];
  profile?: At<string>;
  /** `profiles-tree`: the recipe's own mkimage-profiles tree (a host path, joined to the recipe's directory). */
  profilesTree?: At<string>;
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

/**
 * Does a list of values hold this one? A set per list, kept while the list only grows: a
 * list statement of n items costs O(n), not O(n²).
 */
const valueSets = new WeakMap<readonly unknown[], { size: number; values: Set<string> }>();
export function holds<T>(list: readonly T[], value: string, key: (x: T) => string): boolean {
  let s = valueSets.get(list);
  if (!s || s.size !== list.length) {
    s = { size: list.length, values: new Set(list.map(key)) };
    valueSets.set(list, s);
  }
  return s.values.has(value);
}

/** Appends unless the list already holds the value (see holds). */
export function addUnique<T>(list: T[], item: T, key: (x: T) => string): void {
  if (holds(list, key(item), key)) return;
  list.push(item);
  const s = valueSets.get(list);
  if (s) {
    s.values.add(key(item));
    s.size = list.length;
  }
}
