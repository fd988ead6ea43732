// configure on the alt toolchain: recipe settings as an mkimage-profiles fragment, and
// users, overlays and post-install scripts as a feature of our own (feature.ts). A partner's
// scripts (params.isolation "vm") never become image scripts, which mkimage-profiles runs in
// its hasher chroot on the host kernel: they run here under vm-run inside hasher, and what
// they changed in the root joins the feature as files (and a list of removals).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Settings } from '../../../plan/model';
import type { StepParams } from '../../../plan/step-params';
import { badInput } from '../../failures';
import { defineKind, type KindContext, type KindExecutor } from '../../kinds/registry';
import { digestTree } from '../../host-digest';
import { recipeInput } from '../../recipe-inputs';
import type { Config } from '../../../config/config';
import { readCarried, writeCarried, type Carried } from '../context';
import { FEATURE_DIR, FEATURE_TARGET, rootSnapshot, writeRootChanges, writeFeature } from '../feature';
import { MAKE_WORD, type FragmentParts } from '../image-line';
import * as argv from '../argv';
import { runTool } from '../tools';
import { installDistribution, stagePartnerRepo, withRoot, type HostSource } from './shared';
import { installPartnerRpms, lockedBuilt } from '../partner-rpms';
import { SKIP_MARKERS } from './test';


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

type ConfigureParams = StepParams<'configure'>;

/**
 * The recipe's files configure reads, through the worker's fence (recipe-inputs.ts): a
 * relative path whose real path (symlinks resolved) stays in the recipe directory and out
 * of the state directory and the store.
 */
async function recipeFiles(stepId: string, params: ConfigureParams, config: Config): Promise<{ overlays: string[]; scripts: Array<string | undefined> }> {
  const at = (field: string, rel: string) => recipeInput(stepId, field, rel, params.recipeDir, config);
  return {
    overlays: await Promise.all(params.overlays.map(async (o, i) => at(`overlays[${i}].src`, o.src))),
    scripts: await Promise.all(params.scripts.map(async (s, i) => (s.file === undefined ? undefined : at(`scripts[${i}].file`, s.file)))),
  };
}

/** The overlays' and script files' content joins configure's cache key: an edited overlay is rebuilt. */
async function configureHostInputs(params: ConfigureParams, config: Config): Promise<string | undefined> {
  const files = await recipeFiles('configure', params, config);
  const sources = [...files.overlays, ...files.scripts.filter((f): f is string => f !== undefined)];
  if (sources.length === 0) return undefined;
  const hash = createHash('sha256');
  for (const s of sources) {
    const digest = await digestTree(path.dirname(s), [path.basename(s)]).catch(() => 'missing');
    hash.update(`${s}\0${digest}\0`);
  }
  return hash.digest('hex');
}

export function configureKind(host: HostSource): KindExecutor {
  return defineKind('configure', async (ctx, params) => {
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    const isolation = params.isolation ?? 'host-sandbox';
    let mapped: ReturnType<typeof settingsParts>;
    try {
      mapped = settingsParts(params.settings);
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    const files = await recipeFiles(ctx.step.id, params, ctx.config);
    const overlays = params.overlays.map((o, i) => ({ src: files.overlays[i]!, dest: o.dest }));
    const scripts = await Promise.all(params.scripts.map(async (s, i) => {
      const name = s.file ?? `inline script #${i + 1}`;
      const file = files.scripts[i];
      const text = s.file !== undefined && file !== undefined
        ? await fs.readFile(file, 'utf8').catch((err: Error) => {
          throw badInput(`step "${ctx.step.id}": post-install script ${s.file}: ${err.message}`);
        })
        : s.inline ?? '';
      return { interpreter: s.interpreter, name, text };
    }));
    // A partner's own RPMs join the image from here too: installed with their scriptlets in
    // the VM, never by mkimage-profiles (build leaves them out of its package list).
    const ownRpms = isolation === 'vm' ? lockedBuilt(carried.lock).length : 0;
    const inVm = isolation === 'vm' && (scripts.length > 0 || ownRpms > 0);
    if (ownRpms) await appendNote(ctx, `isolation vm: ${ownRpms} partner RPM(s) installed by rpm inside vm-run (their %pre/%post in the VM); their files and what the scriptlets changed join the image as files`);
    await appendNote(ctx, `isolation ${isolation}: ${scripts.length === 0 ? 'no post-install scripts' : inVm
      ? `${scripts.length} post-install script(s) run under vm-run inside hasher (a qemu VM), never on the host kernel`
      : `${scripts.length} post-install script(s) run by mkimage-profiles in its hasher chroot`}`);
    const featureDir = path.join(ctx.outputsDir, FEATURE_DIR);
    let feature: Awaited<ReturnType<typeof writeFeature>>;
    try {
      feature = await writeFeature(featureDir, { settings: params.settings, overlays, scripts: inVm ? [] : scripts });
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": ${(err as Error).message}`);
    }
    let vm: Awaited<ReturnType<typeof runInVm>> | undefined;
    if (inVm) {
      vm = await runInVm(ctx, host(), { branch: params.branch, arch: params.arch, carried, scripts, featureDir });
      if (feature || vm.changed || vm.scripts.length) feature = { files: (feature?.files ?? 0) + vm.changed, scripts: [...(feature?.scripts ?? []), ...vm.scripts] };
    }
    if (feature) mapped.parts.deps.push(FEATURE_TARGET);
    for (const u of mapped.unapplied) await appendNote(ctx, `not applied on the alt toolchain yet: ${u}`);
    await writeCarried(ctx.outputsDir, { ...carried, context: { ...carried.context, mkimage: mapped.parts, unapplied: mapped.unapplied } });
    return { values: { features: mapped.parts.deps, imageScripts: feature?.scripts ?? [], overlayFiles: feature?.files ?? 0, unapplied: mapped.unapplied, isolation, ...(vm ? { vm: { kvm: vm.kvm, changed: vm.changed, removed: vm.removed } } : {}) } };
  }, configureHostInputs);
}

async function appendNote(ctx: KindContext, line: string): Promise<void> {
  await fs.appendFile(ctx.logPath, `--- sborka: ${line}\n`);
}

interface VmScript { interpreter: string; name: string; text: string }

/**
 * A partner's post-install scripts in a hasher root of the step's own with the locked
 * packages, each through `hsh-run -- vm-run`: the VM boots the host's kernel image on the
 * chroot (9p) and runs the script as root there. The chroot is read before and after from
 * the host: files the scripts made or changed join the feature's files/, what they removed
 * an image script of ours that removes the same paths (data, never the partner's code).
 */
async function runInVm(ctx: KindContext, host: ReturnType<HostSource>, o: { branch: string; arch: StepParams<'configure'>['arch']; carried: Carried; scripts: VmScript[]; featureDir: string }) {
  if (!argv.VM_RUN_ARCHES.includes(o.arch)) {
    throw badInput(`step "${ctx.step.id}": a partner's post-install scripts run only inside vm-run, which has no VM for ${o.arch} (it serves ${argv.VM_RUN_ARCHES.join(', ')}); build this variant for one of those`);
  }
  const commands = o.scripts.map((s) => {
    try {
      return argv.scriptArgv(s.interpreter, s.text);
    } catch (err) {
      throw badInput(`step "${ctx.step.id}": post-install script ${s.name}: ${(err as Error).message}`);
    }
  });
  const repo = await stagePartnerRepo(ctx, o.carried);
  return withRoot(ctx, host, { branch: o.branch, arch: o.arch, repos: o.carried.context.repos, needKvm: true, initroot: { withStuff: !!repo, repo } }, async (root) => {
    const rpms = await installDistribution(ctx, root, o.carried, { partner: 'vm', extra: ['rpm-build-vm-run'] });
    const chroot = path.join(root.slot.workdir, 'chroot');
    const before = await rootSnapshot(chroot);
    if (rpms) await installPartnerRpms(ctx, root, rpms, 'vm');
    for (const [i, command] of commands.entries()) {
      ctx.progress({ phase: `post-install script ${i + 1} in vm-run` });
      const program = argv.vmRun({ kvm: root.kvm ? 'try' : 'tcg', command });
      const run = await runTool(ctx, argv.hshRun({ workdir: root.slot.workdir, number: root.slot.number, program, mountpoints: root.mountpoints }), { keepStdout: true });
      const skipped = SKIP_MARKERS.find((m) => [...run.stdout, ...run.stderr].some((l) => l.includes(m)));
      if (skipped) throw badInput(`step "${ctx.step.id}": vm-run ran nothing for post-install script ${o.scripts[i]!.name} (${skipped})`);
    }
    const changes = await writeRootChanges(o.featureDir, chroot, before, await rootSnapshot(chroot));
    await appendNote(ctx, `vm-run (${root.kvm ? 'KVM' : 'TCG'}) ran ${rpms ? `the partner RPMs' install and ` : ''}${commands.length} post-install script(s): ${changes.changed} path(s) made or changed, ${changes.removed} removed`);
    return { kvm: root.kvm, ...changes };
  });
}
