// A product's properties while its layers are applied: every value keeps the span it was
// written at, for the checks that need the whole product (compile.ts).
import type { Arg, Stmt } from './ast';
import type { ToolchainName } from '../plan/arches';
import type { Output, Repo, Script, Settings, Test, PublishTarget, User, Waiver } from '../plan/model';
import type { Span } from './source';
import type { OutputFormat } from './values';

export interface At<T> {
  value: T;
  span: Span;
}

/** The settings that are one string each (locale, hostname, ...): the plan model's, so a new one is declared there only. */
export type StringSetting = { [K in keyof Settings]-?: NonNullable<Settings[K]> extends string ? K : never }[keyof Settings];

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
  settings: { [K in StringSetting]?: At<string> } & {
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

// Every field is present from the start, optional ones as undefined: all drafts then share
// one shape, and the spreads in cloneDraft take V8's fast path (with shapes that differ by
// which properties were set, the copy goes through the slow generic one).
export function emptyDraft(): Draft {
  return {
    title: undefined,
    version: undefined,
    branch: undefined,
    toolchain: undefined,
    arches: [],
    kernels: undefined,
    profile: undefined,
    profilesTree: undefined,
    packages: new Map(),
    exclude: new Map(),
    repos: new Map(),
    sources: [],
    settings: { users: new Map(), enable: new Map(), disable: new Map() },
    overlays: [],
    scripts: [],
    outputs: new Map(),
    policy: undefined,
    waivers: [],
    tests: [],
    publish: [],
    schedule: undefined,
    owner: undefined,
    emulateAfter: undefined,
    pendingOn: [],
  };
}

/** A map's copy; an empty one without the iterator protocol (most of a draft's maps are empty). */
function copyMap<K, V>(m: ReadonlyMap<K, V>): Map<K, V> {
  const out = new Map<K, V>();
  if (m.size > 0) m.forEach((v, k) => out.set(k, v));
  return out;
}

/** A copy that shares nothing a later statement changes in place (values are replaced, never edited). */
export function cloneDraft(d: Draft): Draft {
  return {
    ...d,
    arches: d.arches.slice(),
    packages: copyMap(d.packages),
    exclude: copyMap(d.exclude),
    repos: copyMap(d.repos),
    sources: d.sources.slice(),
    waivers: d.waivers.slice(),
    settings: { ...d.settings, users: copyMap(d.settings.users), enable: copyMap(d.settings.enable), disable: copyMap(d.settings.disable) },
    overlays: d.overlays.slice(),
    scripts: d.scripts.slice(),
    outputs: copyMap(d.outputs),
    tests: d.tests.slice(),
    publish: d.publish.slice(),
    pendingOn: d.pendingOn.slice(),
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
