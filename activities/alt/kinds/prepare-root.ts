// prepare-root on the alt toolchain: the locked package set in a fresh hasher root (a
// partner's own packages without their scriptlets: partner-rpms.ts).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { badInput } from '../../failures';
import { defineKind, type KindExecutor } from '../../kinds/registry';
import { readCarried, writeCarried } from '../context';
import { formatRpmQa, lockDrift } from '../rpm-list';
import { isolationFor } from '../../../plan/recipe-dir';
import { installLock, queryRoot, stagePartnerRepo, withRoot, type HostSource } from './shared';

/** A fresh root installed from the lock and checked against it: a repository that moved since resolve is caught here. */
export function prepareRootKind(host: HostSource): KindExecutor {
  return defineKind('prepare-root', async (ctx, params) => {
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    const repo = await stagePartnerRepo(ctx, carried);
    return withRoot(ctx, host(), { branch: params.branch, arch: params.arch, repos: carried.context.repos, initroot: { withStuff: !!repo, repo } }, async (root) => {
      // A partner's root is only queried here: their packages' scriptlets do not run at all
      // (configure runs them inside vm-run).
      const partner = params.isolation === 'vm' || isolationFor(ctx.owner ?? { kind: 'community' }) === 'vm';
      await installLock(ctx, root, carried, { partner: partner ? 'no-scripts' : undefined });
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
