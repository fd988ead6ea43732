// Params of the product-build step kinds the planner emits: resolve → prepare-root →
// configure → build (one per output) → verify-licenses → test → publish. Each toolchain's
// activities implement them; the params say what to build, never how.
import { z } from 'zod';
import { Arch, ArtifactRef, FileName, HostDir, Name, Owner, RelativePath } from './schemas';
import { LicensePolicy, Output, Overlay, PublishTarget, Repo, Script, Settings, Test } from './model';

const Toolchain = z.enum(['alt', 'debian']);

// The recipe's files, by schema relative to the step's recipeDir: a plan names no host file.
const RecipeRepo = Repo.extend({ key: RelativePath.optional() });
const RecipeOverlay = Overlay.extend({ src: RelativePath });
const RecipeScript = Script.extend({ file: RelativePath.optional() });
/** `secure-boot key "..." cert "..."`: the signing key and its cert, recipe files like the others. */
const RecipeOutput = Output.extend({ secureBoot: z.union([z.boolean(), z.strictObject({ key: RelativePath, cert: RelativePath })]).optional() });
/**
 * The directory the step's recipe-relative paths are joined to (plan/recipe-dir.ts); the
 * project root when absent. Set by the plan's loader, never by a partner (the API refuses it).
 */
const recipeDir = HostDir.optional();
/**
 * Where the programs a step runs inside the root execute: "vm" (a qemu VM; anything a
 * partner supplies) or "host-sandbox" (bubblewrap on the host kernel; the distribution's own
 * packages and recipes). Absent: host-sandbox. Derived from the plan's owner when loaded.
 */
export const Isolation = z.enum(['host-sandbox', 'vm']);

const Target = z.object({
  toolchain: Toolchain,
  /** ALT branch (p11, sisyphus) or Debian suite (bookworm). */
  branch: z.string().min(1),
  arch: Arch,
});

export const buildKinds = {
  /** The exact package set for the recipe, written as a lock file. Depends on the repositories: not cacheable. */
  resolve: Target.extend({
    packages: z.array(z.string()),
    exclude: z.array(z.string()).default([]),
    kernel: z.string().optional(),
    repos: z.array(RecipeRepo).default([]),
    /**
     * Partner source packages (.src.rpm files or directories of them) built first; their
     * RPMs join the lock. Relative to recipeDir.
     */
    sources: z.array(RelativePath).default([]),
    recipeDir,
  }).strict(),
  /** The build root with the locked packages installed. */
  'prepare-root': Target.extend({
    kernel: z.string().optional(),
    repos: z.array(RecipeRepo).default([]),
    recipeDir,
    /** "vm": the packages are only unpacked here; their maintainer scripts run in configure's VM. */
    isolation: Isolation.optional(),
  }).strict(),
  /** Settings, overlays and post-install scripts applied to the root. */
  configure: Target.extend({
    settings: Settings,
    overlays: z.array(RecipeOverlay).default([]),
    scripts: z.array(RecipeScript).default([]),
    recipeDir,
    isolation: Isolation.optional(),
  }).strict(),
  /** One image of the configured root. */
  build: Target.extend({
    output: RecipeOutput,
    /** mkimage-profiles target on the alt toolchain (distro/regular-xfce). */
    profile: z.string().optional(),
    /** The recipe's own mkimage-profiles tree (a fork), relative to recipeDir; the worker's own tree without it. */
    profilesTree: RelativePath.optional(),
    recipeDir,
    /** File name of the image inside the step's outputs. */
    fileName: FileName,
  }).strict(),
  /** The policy carries its waivers (the policy's, then the product's and variant's). */
  'verify-licenses': Target.extend({ policy: LicensePolicy }).strict(),
  test: Target.extend({ test: Test }).strict(),
  // The planner fills every field but tag and keep; hand-written plans may name artifacts by
  // name only (publish/params.ts finds them by the planner's conventions) and leave the rest.
  publish: z.object({
    publish: PublishTarget,
    product: z.string(),
    arch: Arch,
    /** Artifacts of this variant that go out: where each lies (or, by hand, just its name). */
    artifacts: z.array(z.union([z.string(), ArtifactRef])).min(1),
    /** The plan variant's id ({variant} in templates). */
    variant: z.string().optional(),
    variantOf: Name.optional(),
    branch: z.string().optional(),
    version: z.string().optional(),
    owner: Owner.optional(),
    recipeDigest: z.string().optional(),
    /** Multi-arch tag for a registry target whose reference has none. */
    tag: z.string().optional(),
    /** Versions kept by retention (files targets). */
    keep: z.number().int().min(1).optional(),
  }).strict(),
} as const;
