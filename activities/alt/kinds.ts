// The alt toolchain's step kinds: hasher roots for resolve and prepare-root, settings as
// an mkimage-profiles fragment for configure, mkimage-profiles for build, vm-run for `run`
// tests and a direct qemu boot of the image for `boot` tests (boot.ts).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Arch } from '../../plan/plan';
import type { Repo, Settings } from '../../plan/model';
import type { StepParams } from '../../plan/step-params';
import { badInput, stepFailed } from '../failures';
import { defineKind, type KindContext, type KindExecutor } from '../kinds/registry';
import * as argv from './argv';
import { AltContext, readCarried, writeCarried, PARTNER_REPO, type Carried } from './context';
import { acquireSlot, archMode, checkPriv, kvmAvailable, writeStepFiles, type AltHost, type Slot, type StepFiles } from './host';
import { mkimageTarget, parseImageError, parseImageLine, profileFragment, reportsDirName, MAKE_WORD, type FragmentParts } from './image-line';
import { formatRpmQa, lockDrift, parseListRpms, parseRpmQa, rpmFileName, RPM_QUERY_FORMAT, type Lock, type RpmPackage } from './rpm-list';
import { runTool } from './tools';
import { runAltBootTest } from './boot';
import { FEATURE_DIR, FEATURE_NAME, FEATURE_TARGET, writeFeature } from './feature';
import { digestTree } from '../host-digest';

export const RPM_QA_FILE = 'rpm-qa.tsv';
export const LIST_RPMS_FILE = 'list-rpms.txt';

/** The host is read once per worker, when the first alt step runs. */
export type HostSource = () => AltHost;

// ---- hasher roots ---------------------------------------------------------------

interface Root {
  slot: Slot;
  files: StepFiles;
  mountpoints: string[];
  kvm: boolean;
  withQemu?: string;
}

/**
 * A hasher root of its own for one step: a free subconfig number and a fresh workdir,
 * hasher-priv checked first (so a missing /dev/kvm is reported with its fix, not as a
 * failed mount deep in a build), the step's apt and hasher config written, and the root
 * cleaned up afterwards whatever happens.
 */
async function withRoot<T>(
  ctx: KindContext,
  host: AltHost,
  o: { branch: string; arch: Arch; repos: readonly Repo[]; localRepos?: string[]; needKvm?: boolean; initroot?: { withStuff?: boolean; repo?: string } },
  fn: (root: Root) => Promise<T>,
): Promise<T> {
  const mode = archMode(host, o.arch);
  if (mode.mode === 'refused') throw badInput(`step "${ctx.step.id}": ${mode.why}`);
  const kvm = o.needKvm === true && (await kvmAvailable(host));
  const mountpoints = ['/proc', '/dev/pts', ...(kvm ? ['/dev/kvm'] : [])];
  const slot = await acquireSlot(host, `${ctx.step.id} attempt ${ctx.attempt}`, ctx.signal, (msg) => ctx.progress({ phase: 'waiting', lastLine: msg }));
  try {
    const problems = await checkPriv(host, slot.number, { mountpoints: ['/proc', '/dev/pts'], devices: kvm ? ['/dev/kvm'] : [] });
    if (problems.length) throw badInput(`step "${ctx.step.id}": this host's hasher-priv is not set up for it:\n  ${problems.join('\n  ')}`);
    let files: StepFiles;
    try {
      files = await writeStepFiles(ctx.workDir, { mirror: host.mirror, branch: o.branch, arch: o.arch, repos: o.repos, localRepos: o.localRepos, workdir: slot.workdir, number: slot.number, mountpoints });
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    const withQemu = mode.mode === 'emulated' ? mode.qemu : undefined;
    const root: Root = { slot, files, mountpoints, kvm, withQemu };
    try {
      if (o.initroot) {
        ctx.progress({ phase: 'initroot' });
        await runTool(ctx, argv.hshInitroot({ workdir: slot.workdir, number: slot.number, target: o.arch, aptConfig: files.aptConf, withQemu, withStuff: o.initroot.withStuff, repo: o.initroot.repo }));
      }
      return await fn(root);
    } finally {
      await runTool(ctx, argv.hshCleanup({ workdir: slot.workdir, number: slot.number })).catch((err: unknown) =>
        ctx.logger.warn({ err: (err as Error).message }, 'hsh --cleanup-only failed'));
    }
  } finally {
    await slot.release();
  }
}

/** `rpm -qa` of the root through hsh-run, in the columns rpm-list.ts reads. */
async function queryRoot(ctx: KindContext, root: Root): Promise<RpmPackage[]> {
  ctx.progress({ phase: 'rpm -qa' });
  const run = await runTool(ctx, argv.hshRun({ workdir: root.slot.workdir, number: root.slot.number, program: ['rpm', '-qa', '--qf', RPM_QUERY_FORMAT] }), { keepStdout: true });
  try {
    return parseRpmQa(run.stdout);
  } catch (err) {
    throw stepFailed(`step "${ctx.step.id}": ${(err as Error).message}`);
  }
}

function installArgv(root: Root, packages: readonly string[]): string[] {
  return argv.hshInstall({ workdir: root.slot.workdir, number: root.slot.number, packages, mountpoints: root.mountpoints });
}

// ---- partner source packages --------------------------------------------------

/** The recipe's `sources`: .src.rpm files or directories of them, built before the image. */
async function partnerSources(ctx: KindContext, params: StepParams<'resolve'>): Promise<string[]> {
  const named = params.sources;
  const files: string[] = [];
  for (const rel of named) {
    const p = path.resolve(ctx.config.projectRoot, rel);
    const stat = await fs.stat(p).catch(() => undefined);
    if (!stat) throw badInput(`step "${ctx.step.id}": source packages ${rel}: no such file or directory (${p})`);
    if (stat.isDirectory()) {
      const srpms = (await fs.readdir(p)).filter((f) => f.endsWith('.src.rpm')).sort();
      if (srpms.length === 0) throw badInput(`step "${ctx.step.id}": ${p} holds no *.src.rpm`);
      files.push(...srpms.map((f) => path.join(p, f)));
    } else if (p.endsWith('.src.rpm')) files.push(p);
    else throw badInput(`step "${ctx.step.id}": ${rel} is neither a directory nor a .src.rpm`);
  }
  return files;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

async function listRpms(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.rpm')).sort();
}

function kernelPackages(kernel: string | undefined): string[] {
  return kernel ? [`kernel-image-${kernel}`] : [];
}

// ---- resolve ---------------------------------------------------------------------

export function resolveKind(host: HostSource): KindExecutor {
  return defineKind('resolve', async (ctx, params) => {
    const h = host();
    const srpms = await partnerSources(ctx, params);
    const repos = params.repos;
    return withRoot(ctx, h, { branch: params.branch, arch: params.arch, repos }, async (root) => {
      const hasherRepo = path.join(root.slot.workdir, 'repo');
      const built: Lock['built'] = [];
      if (srpms.length) {
        ctx.progress({ phase: 'building partner packages' });
        await runTool(ctx, argv.hshBuild({ workdir: root.slot.workdir, number: root.slot.number, target: params.arch, aptConfig: root.files.aptConf, repo: hasherRepo, srpms, withQemu: root.withQemu }));
        const rpmsDir = path.join(hasherRepo, params.arch, 'RPMS.hasher');
        const out = path.join(ctx.outputsDir, PARTNER_REPO, params.arch, 'RPMS.hasher');
        await fs.mkdir(out, { recursive: true });
        for (const f of await listRpms(rpmsDir)) {
          await fs.copyFile(path.join(rpmsDir, f), path.join(out, f));
          built.push({ file: f, sha256: await sha256(path.join(out, f)) });
        }
        if (built.length === 0) throw stepFailed(`step "${ctx.step.id}": hsh built ${srpms.length} source package(s) but left no RPMs in ${rpmsDir}`);
      }
      await runTool(ctx, argv.hshInitroot({ workdir: root.slot.workdir, number: root.slot.number, target: params.arch, aptConfig: root.files.aptConf, withQemu: root.withQemu, withStuff: srpms.length > 0, repo: srpms.length ? hasherRepo : undefined }));
      ctx.progress({ phase: 'installing' });
      await runTool(ctx, installArgv(root, [...params.packages, ...kernelPackages(params.kernel)]));
      const packages = await queryRoot(ctx, root);
      const excluded = packages.filter((p) => params.exclude.includes(p.name));
      if (excluded.length) {
        throw badInput(`step "${ctx.step.id}": excluded package(s) ${excluded.map((p) => p.name).join(', ')} are pulled in by the package set's dependencies`);
      }
      const lock: Lock = {
        version: 1, toolchain: 'alt', branch: params.branch, arch: params.arch,
        requested: { packages: params.packages, exclude: params.exclude, ...(params.kernel ? { kernel: params.kernel } : {}) },
        built, packages,
      };
      const carried: Carried = { context: AltContext.parse({ branch: params.branch, arch: params.arch, repos }), lock };
      await writeCarried(ctx.outputsDir, carried);
      return { values: { packages: packages.length, built: built.length } };
    });
  });
}

// ---- prepare-root --------------------------------------------------------------

/** A fresh root installed from the lock and checked against it: a repository that moved since resolve is caught here. */
export function prepareRootKind(host: HostSource): KindExecutor {
  return defineKind('prepare-root', async (ctx, params) => {
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    const repo = await stagePartnerRepo(ctx, carried);
    return withRoot(ctx, host(), { branch: params.branch, arch: params.arch, repos: carried.context.repos, initroot: { withStuff: !!repo, repo } }, async (root) => {
      await runTool(ctx, installArgv(root, installNames(carried.lock)));
      const packages = await queryRoot(ctx, root);
      const drift = lockDrift(carried.lock.packages, packages);
      if (drift.length) {
        throw badInput(`step "${ctx.step.id}": the root differs from the lock (the repository changed since resolve; run the build again to re-resolve):\n  ${drift.slice(0, 20).join('\n  ')}`);
      }
      await writeCarried(ctx.outputsDir, carried);
      await fs.writeFile(path.join(ctx.outputsDir, 'root-packages.tsv'), formatRpmQa(packages));
      return { values: { packages: packages.length } };
    });
  });
}

/** Names to install for a lock: what was asked for (the rest comes as dependencies, checked after). */
function installNames(lock: Lock): string[] {
  return [...lock.requested.packages, ...kernelPackages(lock.requested.kernel)];
}

/** hasher may write to its work repo, so partner RPMs are copied out of the store first. */
async function stagePartnerRepo(ctx: KindContext, carried: Carried): Promise<string | undefined> {
  if (!carried.partnerRepo) return undefined;
  const repo = path.join(ctx.workDir, 'partner-repo');
  await fs.cp(carried.partnerRepo, repo, { recursive: true });
  return repo;
}

// ---- configure -----------------------------------------------------------------

/**
 * Recipe settings as mkimage-profiles features and variables (use/l10n LOCALE,
 * use/datetime TIME_ZONE, use/services SERVICES_*, use/net TARGET_HOSTNAME). Users and
 * the root password (hashes, which m-p's plain-text ROOTPW/USERS cannot carry) go into
 * our own feature's image script, see feature.ts.
 */
export function settingsParts(settings: Settings): { parts: FragmentParts; unapplied: string[] } {
  const parts: FragmentParts = { deps: [], calls: [] };
  const unapplied: string[] = [];
  if (settings.locale) {
    const locale = settings.locale.replace(/\.(UTF-8|utf8)$/i, '');
    parts.deps.push('use/l10n');
    parts.calls.push({ fn: 'add', name: 'LOCALES', value: locale }, { fn: 'set', name: 'LOCALE', value: locale });
  }
  if (settings.keyboard) {
    parts.deps.push('use/l10n');
    parts.calls.push({ fn: 'set', name: 'XKB_KEYMAPS', value: settings.keyboard.split(',').map((s) => s.trim()).filter(Boolean).join(' ') });
  }
  if (settings.timezone) {
    parts.deps.push('use/datetime');
    parts.calls.push({ fn: 'set', name: 'TIME_ZONE', value: settings.timezone });
  }
  if (settings.enableServices.length || settings.disableServices.length) {
    parts.deps.push('use/services');
    if (settings.enableServices.length) parts.calls.push({ fn: 'add', name: 'SERVICES_ENABLE', value: settings.enableServices.join(' ') });
    if (settings.disableServices.length) parts.calls.push({ fn: 'add', name: 'SERVICES_DISABLE', value: settings.disableServices.join(' ') });
  }
  if (settings.hostname) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(settings.hostname)) throw new Error(`hostname "${settings.hostname}" is not a valid host name`);
    parts.deps.push('use/net');
    parts.calls.push({ fn: 'set', name: 'TARGET_HOSTNAME', value: settings.hostname });
  }
  if (settings.users.length || settings.rootPasswordHash !== undefined) {
    // What m-p's use/deflogin installs for the same job.
    parts.calls.push({ fn: 'add', name: 'THE_PACKAGES', value: 'shadow-utils' });
  }
  parts.deps = [...new Set(parts.deps)];
  for (const c of parts.calls) for (const w of c.value.split(' ')) if (!MAKE_WORD.test(w)) throw new Error(`setting value "${w}" cannot be passed to mkimage-profiles`);
  return { parts, unapplied };
}

/**
 * A recipe's file on the host: absolute as cli/load-plan.ts writes them, or relative to
 * the project for hand-written plans; never outside the project through "..".
 */
function recipePath(stepId: string, field: string, p: string, projectRoot: string): string {
  if (path.isAbsolute(p)) return path.normalize(p);
  const full = path.resolve(projectRoot, p);
  if (full !== projectRoot && !full.startsWith(`${projectRoot}${path.sep}`)) throw badInput(`step "${stepId}": params.${field}: ${p} leads outside ${projectRoot}`);
  return full;
}

type ConfigureParams = StepParams<'configure'>;

/** The overlays' and script files' content joins configure's cache key: an edited overlay is rebuilt. */
async function configureHostInputs(params: ConfigureParams, config: { projectRoot: string }): Promise<string | undefined> {
  const sources = [
    ...params.overlays.map((o, i) => recipePath('configure', `overlays[${i}].src`, o.src, config.projectRoot)),
    ...params.scripts.flatMap((s, i) => (s.file !== undefined ? [recipePath('configure', `scripts[${i}].file`, s.file, config.projectRoot)] : [])),
  ];
  if (sources.length === 0) return undefined;
  const hash = createHash('sha256');
  for (const s of sources) {
    const digest = await digestTree(path.dirname(s), [path.basename(s)]).catch(() => 'missing');
    hash.update(`${s}\0${digest}\0`);
  }
  return hash.digest('hex');
}

export function configureKind(): KindExecutor {
  return defineKind('configure', async (ctx, params) => {
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    let mapped: ReturnType<typeof settingsParts>;
    try {
      mapped = settingsParts(params.settings);
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    const overlays = params.overlays.map((o, i) => ({ src: recipePath(ctx.step.id, `overlays[${i}].src`, o.src, ctx.config.projectRoot), dest: o.dest }));
    for (const o of overlays) {
      if (!(await fs.stat(o.src).catch(() => undefined))) throw badInput(`step "${ctx.step.id}": overlay ${o.src}: no such file or directory`);
    }
    const scripts = await Promise.all(params.scripts.map(async (s, i) => {
      const name = s.file ?? `inline script #${i + 1}`;
      const text = s.file !== undefined
        ? await fs.readFile(recipePath(ctx.step.id, `scripts[${i}].file`, s.file, ctx.config.projectRoot), 'utf8').catch((err: Error) => {
          throw badInput(`step "${ctx.step.id}": post-install script ${s.file}: ${err.message}`);
        })
        : s.inline ?? '';
      return { interpreter: s.interpreter, name, text };
    }));
    let feature: Awaited<ReturnType<typeof writeFeature>>;
    try {
      feature = await writeFeature(path.join(ctx.outputsDir, FEATURE_DIR), { settings: params.settings, overlays, scripts });
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    if (feature) mapped.parts.deps.push(FEATURE_TARGET);
    for (const u of mapped.unapplied) await appendNote(ctx, `not applied on the alt toolchain yet: ${u}`);
    await writeCarried(ctx.outputsDir, { ...carried, context: { ...carried.context, mkimage: mapped.parts, unapplied: mapped.unapplied } });
    return { values: { features: mapped.parts.deps, imageScripts: feature?.scripts ?? [], overlayFiles: feature?.files ?? 0, unapplied: mapped.unapplied } };
  }, configureHostInputs);
}

async function appendNote(ctx: KindContext, line: string): Promise<void> {
  await fs.appendFile(ctx.logPath, `--- sborka: ${line}\n`);
}

// ---- build ---------------------------------------------------------------------

/**
 * mkimage-profiles on a copy of the profiles tree with our fragment in conf.d; the image
 * comes from the `** image:` line, its package list from the report directory, and an
 * `rpm -qa --qf` dump (License tags) from a root with exactly those packages.
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
    const partner = await stagePartnerRepo(ctx, carried);
    const ownName = `${target.name}-sborka`;
    const profiles = path.join(ctx.workDir, 'profiles');
    await fs.cp(h.profilesDir, profiles, { recursive: true }).catch((err: Error) => {
      throw badInput(`step "${ctx.step.id}": cannot copy mkimage-profiles from ${h.profilesDir} (SBORKA_ALT_PROFILES): ${err.message}`);
    });
    let fragment: string;
    try {
      fragment = profileFragment({ cls: target.cls, base: target.name, name: ownName, packages: carried.lock.requested.packages, kernel: carried.lock.requested.kernel, parts: carried.context.mkimage });
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    await fs.writeFile(path.join(profiles, 'conf.d', 'zz-sborka.mk'), fragment);
    if (carried.feature) {
      // Our feature next to m-p's own: main.mk includes features.in/*/config.mk.
      await fs.mkdir(path.join(profiles, 'features.in'), { recursive: true });
      await fs.cp(carried.feature, path.join(profiles, 'features.in', FEATURE_NAME), { recursive: true, verbatimSymlinks: true });
    }
    const dirs = { buildDir: path.join(ctx.workDir, 'mkimage'), imageDir: path.join(ctx.workDir, 'out'), logDir: path.join(ctx.workDir, 'logs') };
    await fs.mkdir(dirs.imageDir, { recursive: true });
    await fs.mkdir(dirs.logDir, { recursive: true });

    return withRoot(ctx, h, { branch: params.branch, arch: params.arch, repos: carried.context.repos, localRepos: partner ? [partner] : [] }, async (root) => {
      let image: { path: string; size: string } | undefined;
      let missing: string | undefined;
      const make = argv.makeImage({ profilesDir: profiles, arch: params.arch, branch: params.branch, aptConf: root.files.aptConf, ...dirs, target: `${target.cls}/${ownName}.${target.type}`, vmSizeBytes: params.output.sizeBytes });
      ctx.progress({ phase: 'mkimage-profiles' });
      try {
        await runTool(ctx, make, {
          onLine: (line, stream) => {
            if (stream !== 'stderr') return;
            image = parseImageLine(line) ?? image;
            missing = parseImageError(line) ?? missing;
          },
        });
      } catch (err) {
        const kept = await keepFailedBuild(ctx, dirs);
        throw withNote(err, `mkimage-profiles failed; its build log and reports are kept in ${kept}`);
      }
      if (!image) {
        const kept = await keepFailedBuild(ctx, dirs);
        throw stepFailed(`step "${ctx.step.id}": mkimage-profiles exited 0 but printed no "** image:" line${missing ? ` (it says ${missing} is missing)` : ''}; log and reports kept in ${kept}`);
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
      await runTool(ctx, installArgv(root, names));
      const packages = await queryRoot(ctx, root);
      await fs.writeFile(path.join(ctx.outputsDir, RPM_QA_FILE), formatRpmQa(packages));
      await writeCarried(ctx.outputsDir, carried);
      return { values: { image: params.fileName, size: image.size, target: `${target.cls}/${target.name}.${target.type}`, packages: packages.length, unapplied: carried.context.unapplied } };
    });
  });
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

// ---- test ----------------------------------------------------------------------

/**
 * `run` tests in a root with the locked packages: under vm-run (a real kernel) where
 * vm-run serves the arch, directly through hsh-run on native riscv64 and e2k hosts,
 * where rpm-build-vm-run is a stub that would run nothing and exit 0. `boot` tests boot
 * the built image itself on the host (boot.ts), no hasher root involved.
 */
export function testKind(host: HostSource): KindExecutor {
  return defineKind('test', async (ctx, params) => {
    const t = params.test;
    if (t.type === 'boot') return runAltBootTest(ctx, host(), params.arch, t);
    if (t.type !== 'run') {
      throw badInput(`step "${ctx.step.id}": ${t.type} tests are not implemented on the alt toolchain yet`);
    }
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    const repo = await stagePartnerRepo(ctx, carried);
    const useVm = argv.VM_RUN_ARCHES.includes(params.arch);
    return withRoot(ctx, host(), { branch: params.branch, arch: params.arch, repos: carried.context.repos, needKvm: useVm, initroot: { withStuff: !!repo, repo } }, async (root) => {
      await runTool(ctx, installArgv(root, [...installNames(carried.lock), ...(useVm ? ['rpm-build-vm-run'] : [])]));
      const program = useVm ? argv.vmRun({ kvm: root.kvm ? 'try' : 'tcg', command: t.argv }) : t.argv;
      const run = await runTool(ctx, argv.hshRun({ workdir: root.slot.workdir, number: root.slot.number, program, mountpoints: root.mountpoints }), {
        keepStdout: true, nonRetryableExitCodes: t.exitCode === 0 ? [] : [0],
      }).catch((err: unknown) => {
        if (err instanceof ApplicationFailure && (err.details?.[0] as { exitCode?: number } | undefined)?.exitCode === t.exitCode) return 'expected-failure' as const;
        throw err;
      });
      const output = run === 'expected-failure' ? '' : run.stdout.join('\n');
      const all = run === 'expected-failure' ? '' : [...run.stdout, ...run.stderr].join('\n');
      if (SKIP_MARKERS.some((m) => all.includes(m))) {
        throw stepFailed(`step "${ctx.step.id}": vm-run skipped the test instead of running it (${SKIP_MARKERS.find((m) => all.includes(m))}); a skipped test is not a pass`);
      }
      if (run !== 'expected-failure' && t.exitCode !== 0) throw stepFailed(`step "${ctx.step.id}": expected exit code ${t.exitCode}, got 0`);
      if (t.output !== undefined && !output.includes(t.output)) throw stepFailed(`step "${ctx.step.id}": output lacks ${JSON.stringify(t.output)}`);
      return { values: { passed: true, vm: useVm, kvm: root.kvm } };
    });
  });
}

/** What vm-run prints when it ran nothing (--kvm=cond without KVM; the stub on other arches). */
export const SKIP_MARKERS = ['Not running due to no KVM support', 'vm-run is not supported on your architecture'];
