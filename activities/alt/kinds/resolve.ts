// resolve on the alt toolchain: the recipe's partner source packages built with hsh, then
// the package set installed in a fresh hasher root; its rpm -qa is the lock.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { StepParams } from '../../../plan/step-params';
import { badInput, stepFailed } from '../../failures';
import { defineKind, type KindContext, type KindExecutor } from '../../kinds/registry';
import * as argv from '../argv';
import { AltContext, writeCarried, PARTNER_REPO, type Carried } from '../context';
import type { Lock } from '../rpm-list';
import { runTool } from '../tools';
import { installArgv, kernelPackages, queryRoot, withRoot, type HostSource } from './shared';
import { installPartnerRpms, partnerRpms } from '../partner-rpms';
import { isolationFor } from '../../../plan/recipe-dir';
import { recipeInput } from '../../recipe-inputs';


/** The recipe's `sources`: .src.rpm files or directories of them, built before the image. */
async function partnerSources(ctx: KindContext, params: StepParams<'resolve'>): Promise<string[]> {
  const named = params.sources;
  const files: string[] = [];
  for (const [i, rel] of named.entries()) {
    // The worker's fence: symlinks resolved, the real path inside the recipe directory.
    const p = await recipeInput(ctx.step.id, `sources[${i}]`, rel, params.recipeDir, ctx.config);
    const stat = await fs.stat(p);
    if (stat.isDirectory()) {
      const srpms = [];
      for (const f of (await fs.readdir(p)).filter((n) => n.endsWith('.src.rpm')).sort()) {
        // A link in the directory could name any host file: only plain files are built.
        if (!(await fs.lstat(path.join(p, f))).isFile()) throw badInput(`step "${ctx.step.id}": source packages ${rel}: ${f} is not a regular file (a symlink?): refused`);
        srpms.push(f);
      }
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
      // A partner's own RPMs install without their scriptlets (partner-rpms.ts): only the
      // lock is wanted here. Their dependencies come with the recipe's other packages.
      const own = built.length && isolationFor(ctx.owner ?? { kind: 'community' }) === 'vm'
        ? await partnerRpms(ctx, { partnerRepo: path.join(ctx.outputsDir, PARTNER_REPO) }, { arch: params.arch, built })
        : undefined;
      await runTool(ctx, installArgv(root, [...params.packages.filter((n) => !own?.names.has(n)), ...kernelPackages(params.kernel)]));
      if (own) await installPartnerRpms(ctx, root, own, 'no-scripts');
      const packages = await queryRoot(ctx, root);
      const excluded = packages.filter((p) => params.exclude.includes(p.name));
      if (excluded.length) {
        throw badInput(`step "${ctx.step.id}": excluded package(s) ${excluded.map((p) => p.name).join(', ')} are pulled in by the package set's dependencies`);
      }
      const lock: Lock = {
        version: 1, toolchain: 'alt', branch: params.branch, arch: params.arch,
        requested: { packages: params.packages, exclude: params.exclude, ...(params.kernel ? { kernel: params.kernel } : {}) },
        built, packages, sourceDateEpoch: Math.floor(Date.now() / 1000),
      };
      const carried: Carried = { context: AltContext.parse({ branch: params.branch, arch: params.arch, repos }), lock };
      await writeCarried(ctx.outputsDir, carried);
      return { values: { packages: packages.length, built: built.length } };
    });
  });
}
