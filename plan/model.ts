// The product model: one product (or variant) resolved for one arch and kernel flavour,
// after inheritance, variants and `on <arch>` overrides. The checker makes it, the
// planner reads it, and the build steps' params reuse its parts.
import { z } from 'zod';
import { OUTPUT_OPTION_FIELDS, OutputFormatSchema } from './formats';
import { isCalendarDate } from './literals';
import { Arch, Name, Owner, Schedule } from './schemas';

export const Repo = z.object({
  name: Name,
  url: z.string().min(1),
  /** Branch or suite of the repository; the product's branch when absent. */
  suite: z.string().optional(),
  components: z.array(z.string()).default([]),
  /** Signing key file, relative to the plan's recipe directory. */
  key: z.string().optional(),
});

export const User = z.object({
  name: z.string().min(1),
  groups: z.array(z.string()).default([]),
  passwordHash: z.string().optional(),
  shell: z.string().optional(),
  uid: z.number().int().min(0).optional(),
});

export const Settings = z.object({
  locale: z.string().optional(),
  timezone: z.string().optional(),
  hostname: z.string().optional(),
  keyboard: z.string().optional(),
  rootPasswordHash: z.string().optional(),
  users: z.array(User).default([]),
  enableServices: z.array(z.string()).default([]),
  disableServices: z.array(z.string()).default([]),
});

export const Overlay = z.object({
  /** File or directory, relative to the plan's recipe directory. */
  src: z.string().min(1),
  /** Absolute path inside the image. */
  dest: z.string().startsWith('/'),
});

export const Script = z.object({
  stage: z.literal('post-install'),
  interpreter: z.string().startsWith('/'),
  /** A file relative to the plan's recipe directory, or the script's text. */
  file: z.string().optional(),
  inline: z.string().optional(),
});

export const Output = z.object({
  format: OutputFormatSchema,
  ...OUTPUT_OPTION_FIELDS,
});

/** yyyy-mm-dd, a calendar date (UTC). */
export const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine(isCalendarDate, 'not a calendar date');

/**
 * A partner's exception for one package: it passes until the end of `until` (UTC). Declared
 * here, where the language makes waivers; licenses/model.ts takes it from here.
 */
export const Waiver = z.object({
  package: z.string().min(1),
  owner: z.string().min(1),
  reason: z.string().min(1),
  until: IsoDate,
});

export const LicensePolicy = z.object({
  name: Name,
  allow: z.array(z.string()).default([]),
  review: z.array(z.string()).default([]),
  deny: z.array(z.string()).default([]),
  /** What a license on none of the lists gets. */
  unknown: z.enum(['allow', 'review', 'deny']).default('review'),
  /** The policy's own waivers, then those of the product's chain and variant (a later one for a package wins). */
  waivers: z.array(Waiver).default([]),
});

export const Test = z.discriminatedUnion('type', [
  z.object({ type: z.literal('boot'), timeoutMs: z.number().int().positive(), expect: z.string() }),
  z.object({
    type: z.literal('run'),
    argv: z.array(z.string()).min(1),
    exitCode: z.number().int().min(0).max(255),
    output: z.string().optional(),
    timeoutMs: z.number().int().positive(),
  }),
  z.object({ type: z.literal('reproducible') }),
]);

export const PublishTarget = z.discriminatedUnion('target', [
  /** A directory template; `{date}` and `{build}` are left for publish time. */
  z.object({
    target: z.literal('files'),
    path: z.string().startsWith('/'),
    /** Versions kept (retention); the planner passes it to the publish step as `keep`. */
    keep: z.number().int().min(1).optional(),
  }),
  z.object({ target: z.literal('registry'), repository: z.string().min(1) }),
]);

export const ResolvedVariant = z.object({
  /** The product or variant being built. */
  product: Name,
  variantOf: Name.optional(),
  title: z.string().optional(),
  version: z.string().optional(),
  branch: z.string(),
  toolchain: z.enum(['alt', 'debian']),
  arch: Arch,
  flavour: Name,
  kernel: z.string().optional(),
  profile: z.string().optional(),
  /** The recipe's own mkimage-profiles tree (a partner's fork), relative to the recipe's directory. */
  profilesTree: z.string().optional(),
  packages: z.array(z.string()),
  exclude: z.array(z.string()),
  repos: z.array(Repo),
  /** Partner source packages (.src.rpm files or directories of them) built before the image, relative to the recipe's directory. */
  sources: z.array(z.string()),
  settings: Settings,
  overlays: z.array(Overlay),
  scripts: z.array(Script),
  outputs: z.array(Output).min(1),
  licensePolicy: LicensePolicy.optional(),
  tests: z.array(Test),
  publish: z.array(PublishTarget),
  schedule: Schedule.optional(),
  owner: Owner,
  /** `emulate after`: how long steps wait for a native worker before an emulating one may take them. */
  emulateAfterMs: z.number().int().positive().optional(),
});

export type Repo = z.infer<typeof Repo>;
export type User = z.infer<typeof User>;
export type Settings = z.infer<typeof Settings>;
export type Overlay = z.infer<typeof Overlay>;
export type Script = z.infer<typeof Script>;
export type Output = z.infer<typeof Output>;
export type Waiver = z.infer<typeof Waiver>;
export type LicensePolicy = z.infer<typeof LicensePolicy>;
export type Test = z.infer<typeof Test>;
export type PublishTarget = z.infer<typeof PublishTarget>;
export type ResolvedVariant = z.infer<typeof ResolvedVariant>;
