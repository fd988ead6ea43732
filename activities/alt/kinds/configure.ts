// configure on the alt toolchain: recipe settings as an mkimage-profiles fragment, and
// users, overlays and post-install scripts as a feature of our own (feature.ts).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Settings } from '../../../plan/model';
import type { StepParams } from '../../../plan/step-params';
import { badInput } from '../../failures';
import { defineKind, type KindContext, type KindExecutor } from '../../kinds/registry';
import { digestTree } from '../../host-digest';
import { readCarried, writeCarried } from '../context';
import { FEATURE_DIR, FEATURE_TARGET, writeFeature } from '../feature';
import { MAKE_WORD, type FragmentParts } from '../image-line';


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
    ...params.overlays.map((o, i) => recipePath('configure', `overlays[${i}].src`, o.src, params.recipeDir ?? config.projectRoot)),
    ...params.scripts.flatMap((s, i) => (s.file !== undefined ? [recipePath('configure', `scripts[${i}].file`, s.file, params.recipeDir ?? config.projectRoot)] : [])),
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
    const overlays = params.overlays.map((o, i) => ({ src: recipePath(ctx.step.id, `overlays[${i}].src`, o.src, params.recipeDir ?? ctx.config.projectRoot), dest: o.dest }));
    for (const o of overlays) {
      if (!(await fs.stat(o.src).catch(() => undefined))) throw badInput(`step "${ctx.step.id}": overlay ${o.src}: no such file or directory`);
    }
    const scripts = await Promise.all(params.scripts.map(async (s, i) => {
      const name = s.file ?? `inline script #${i + 1}`;
      const text = s.file !== undefined
        ? await fs.readFile(recipePath(ctx.step.id, `scripts[${i}].file`, s.file, params.recipeDir ?? ctx.config.projectRoot), 'utf8').catch((err: Error) => {
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
