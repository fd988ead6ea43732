// build on the alt toolchain: mkimage-profiles in a hasher root of its own.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { badInput, stepFailed } from '../../failures';
import { defineKind, type KindContext, type KindExecutor } from '../../kinds/registry';
import * as argv from '../argv';
import { readCarried, writeCarried } from '../context';
import { FEATURE_NAME } from '../feature';
import { mkimageTarget, parseImageError, profileFragment, reportsDirName } from '../image-line';
import { findImage, imageName } from '../image-file';
import { treeTargets } from '../profiles-tree';
import { didYouMean } from '../../../dsl/suggest';
import { formatRpmQa, parseListRpms, rpmFileName } from '../rpm-list';
import { runTool } from '../tools';
import { digestTree } from '../../host-digest';
import { checkOverlayTree, recipeInput } from '../../recipe-inputs';
import type { Config } from '../../../config/config';
import type { StepParams } from '../../../plan/step-params';
import { installArgv, queryRoot, stagePartnerRepo, withRoot, type HostSource } from './shared';
import { installPartnerRpms, partnerRpms } from '../partner-rpms';
import { isolationFor } from '../../../plan/recipe-dir';

export const RPM_QA_FILE = 'rpm-qa.tsv';
export const LIST_RPMS_FILE = 'list-rpms.txt';

/**
 * mkimage-profiles on a copy of the profiles tree with our fragment in conf.d; the image
 * is found where the tool leaves it (image-file.ts), its package list from the report
 * directory, and an `rpm -qa --qf` dump (License tags) from a root with exactly those
 * packages. BUILDDIR lies in the step's hasher workdir: mkimage makes its hasher roots
 * under BUILDDIR, and hasher-priv works only under its prefix.
 */
export function buildKind(host: HostSource): KindExecutor {
  return defineKind('build', async (ctx, params) => {
    const h = host();
    if (!params.profile) throw badInput(`step "${ctx.step.id}": the alt toolchain builds with mkimage-profiles and needs the recipe's \`profile\` (e.g. distro/regular-xfce)`);
    let target: ReturnType<typeof mkimageTarget>;
    try {
      target = mkimageTarget(params.profile, params.output);
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    // A partner's own RPMs never reach mkimage-profiles (it installs with their scriptlets
    // in its hasher chroot): configure installed them inside vm-run into the feature's files.
    const own = isolationFor(ctx.owner ?? { kind: 'community' }) === 'vm' ? await partnerRpms(ctx, carried, carried.lock) : undefined;
    const partner = own ? undefined : await stagePartnerRepo(ctx, carried);
    const ownName = `${target.name}-sborka`;
    const profiles = path.join(ctx.workDir, 'profiles');
    const tree = await profilesSource(ctx.step.id, params, ctx.config, h.profilesDir);
    await fs.cp(tree.dir, profiles, { recursive: true }).catch((err: Error) => {
      throw badInput(`step "${ctx.step.id}": cannot copy mkimage-profiles from ${tree.dir} (${tree.what}): ${err.message}`);
    });
    // The tree the build uses decides: the recipe's fork when it names one, else the
    // worker's own (`sborka check` left a fork's targets to this check).
    const defined = treeTargets(profiles, params.arch, params.branch);
    const base = `${target.cls}/${target.name}`;
    if (!defined.has(base)) {
      const hint = didYouMean(base, [...defined].filter((t) => t.startsWith(`${target.cls}/`)));
      throw badInput(`step "${ctx.step.id}": the profiles tree ${tree.dir} (${tree.what}) defines no ${base} for ${params.arch} (conf.d/*.mk), so \`make ${base}.${target.type}\` would stop with "No rule to make target"${hint ? `; ${hint}` : ''}`);
    }
    let fragment: string;
    try {
      fragment = profileFragment({ cls: target.cls, base: target.name, name: ownName, packages: carried.lock.requested.packages.filter((n) => !own?.names.has(n)), kernel: carried.lock.requested.kernel, parts: carried.context.mkimage });
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    await fs.writeFile(path.join(profiles, 'conf.d', 'zz-sborka.mk'), fragment);
    if (carried.feature) {
      // Our feature next to m-p's own: main.mk includes features.in/*/config.mk.
      await fs.mkdir(path.join(profiles, 'features.in'), { recursive: true });
      await fs.cp(carried.feature, path.join(profiles, 'features.in', FEATURE_NAME), { recursive: true, verbatimSymlinks: true });
    }
    const out = { imageDir: path.join(ctx.workDir, 'out'), logDir: path.join(ctx.workDir, 'logs') };
    await fs.mkdir(out.imageDir, { recursive: true });
    await fs.mkdir(out.logDir, { recursive: true });

    return withRoot(ctx, h, { branch: params.branch, arch: params.arch, repos: carried.context.repos, localRepos: partner ? [partner] : [] }, async (root) => {
      const dirs = { ...out, buildDir: path.join(root.slot.workdir, 'mkimage') };
      let missing: string | undefined;
      // The lock's time dates the image and its files, so a rebuild from it names and stamps them the same.
      const epoch = carried.lock.sourceDateEpoch;
      const date = epoch === undefined ? undefined : new Date(epoch * 1000).toISOString().slice(0, 10).replace(/-/g, '');
      const make = argv.makeImage({ profilesDir: profiles, arch: params.arch, branch: params.branch, aptConf: root.files.aptConf, ...dirs, target: `${target.cls}/${ownName}.${target.type}`, vmSizeBytes: params.output.sizeBytes, date });
      ctx.progress({ phase: 'mkimage-profiles' });
      try {
        await runTool(ctx, make, {
          ...(epoch === undefined ? {} : { env: { SOURCE_DATE_EPOCH: String(epoch) } }),
          onLine: (line, stream) => {
            if (stream === 'stderr') missing = parseImageError(line) ?? missing;
          },
        });
      } catch (err) {
        const why = await buildLogGotchas(dirs.buildDir);
        const kept = await keepFailedBuild(ctx, dirs);
        throw withNote(err, `mkimage-profiles failed${why.length ? `:\n  ${why.join('\n  ')}\n` : '; '}its build log and reports are kept in ${kept}`);
      }
      const image = await findImage({ ...dirs, name: imageName(ownName, params.branch), arch: params.arch, type: target.type });
      if ('problem' in image) {
        const kept = await keepFailedBuild(ctx, dirs);
        throw stepFailed(`step "${ctx.step.id}": mkimage-profiles exited 0 but left no image: ${image.problem}${missing ? ` (it says ${missing} is missing)` : ''}; log and reports kept in ${kept}`);
      }
      await fs.copyFile(image.path, path.join(ctx.outputsDir, params.fileName));
      const reports = path.join(dirs.logDir, reportsDirName(image.path));
      await fs.cp(reports, path.join(ctx.outputsDir, 'reports'), { recursive: true }).catch(() => undefined);
      const listText = await fs.readFile(path.join(reports, LIST_RPMS_FILE), 'utf8').catch(() => undefined);
      if (listText === undefined) throw stepFailed(`step "${ctx.step.id}": mkimage-profiles left no ${LIST_RPMS_FILE} in ${reports} (REPORT=1 was given)`);
      await fs.writeFile(path.join(ctx.outputsDir, LIST_RPMS_FILE), listText);

      // The image's packages in a root of their own, for their headers (License, SOURCERPM).
      const names = parseListRpms(listText).map((f) => rpmFileName(f)?.name).filter((n): n is string => !!n);
      await runTool(ctx, argv.hshInitroot({ workdir: root.slot.workdir, number: root.slot.number, target: params.arch, aptConfig: root.files.aptConf, withQemu: root.withQemu, withStuff: !!partner, repo: partner }));
      await runTool(ctx, installArgv(root, names.filter((n) => !own?.names.has(n))));
      // Their headers (License) join the dump the license check reads; nothing of theirs runs.
      if (own) await installPartnerRpms(ctx, root, own, 'no-scripts');
      const packages = await queryRoot(ctx, root);
      await fs.writeFile(path.join(ctx.outputsDir, RPM_QA_FILE), formatRpmQa(packages));
      await writeCarried(ctx.outputsDir, carried);
      return { values: { image: params.fileName, size: image.size ?? null, foundVia: path.basename(image.via), rebuild: { params, inputs: Object.fromEntries(Object.entries(ctx.inputs).map(([id, e]) => [id, e.key])) }, target: `${target.cls}/${target.name}.${target.type}`, packages: packages.length, unapplied: carried.context.unapplied, ...(params.profilesTree ? { profilesTree: params.profilesTree } : {}) } };
    });
  }, buildHostInputs);
}

type BuildParams = StepParams<'build'>;

/** The profiles tree a build copies: the recipe's (fenced like its other files) or the worker's. */
async function profilesSource(stepId: string, params: BuildParams, config: Config, own: string): Promise<{ dir: string; what: string }> {
  if (params.profilesTree === undefined) return { dir: own, what: 'SBORKA_ALT_PROFILES' };
  const dir = await recipeInput(stepId, 'profilesTree', params.profilesTree, params.recipeDir, config);
  // Copied and read by make on the host: no hard links or device files smuggled in.
  await checkOverlayTree(stepId, 'profilesTree', dir);
  return { dir, what: `the recipe's profiles-tree ${params.profilesTree}` };
}

/** A recipe's own tree joins the build's cache key, as overlays join configure's: an edited fork is rebuilt. */
async function buildHostInputs(params: BuildParams, config: Config): Promise<string | undefined> {
  if (params.profilesTree === undefined) return undefined;
  const dir = await recipeInput('build', 'profilesTree', params.profilesTree, params.recipeDir, config);
  return digestTree(path.dirname(dir), [path.basename(dir)]);
}

/** The lines of a failed build's log that say why: hasher-priv's and the tools' errors (lib/build.mk 7's GOTCHA and theirs). */
async function buildLogGotchas(buildDir: string): Promise<string[]> {
  const text = await fs.readFile(path.join(buildDir, 'build.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => /^(hasher-priv|hsh[-a-z]*|mkimage|E):|^(\*\* )?(E:|[Ee]rror|[Ww]arning)|(FAILURE|FATAL|ERROR|conflicts|Depends:) |(Stop|failed|not found)\.$|not allowed$/.test(l)).slice(-8);
}

/** A failed build's staging is discarded: its log and reports go next to the step log instead. */
async function keepFailedBuild(ctx: KindContext, dirs: { buildDir: string; logDir: string }): Promise<string> {
  const keep = `${ctx.logPath}.mkimage-attempt-${ctx.attempt}`;
  await fs.mkdir(keep, { recursive: true });
  await fs.copyFile(path.join(dirs.buildDir, 'build.log'), path.join(keep, 'build.log')).catch(() => undefined);
  await fs.cp(path.join(dirs.buildDir, 'reports'), path.join(keep, 'reports'), { recursive: true }).catch(() => undefined);
  await fs.cp(dirs.logDir, path.join(keep, 'logs'), { recursive: true }).catch(() => undefined);
  return keep;
}

function withNote(err: unknown, note: string): unknown {
  if (!(err instanceof ApplicationFailure)) return err;
  return ApplicationFailure.create({ type: err.type ?? 'StepFailed', message: `${note}\n${err.message}`, nonRetryable: err.nonRetryable === true, details: err.details ? [...err.details] : [] });
}

