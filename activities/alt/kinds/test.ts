// test on the alt toolchain: `run` tests in a hasher root, `boot` tests on the host.
import * as fs from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { isolationFor } from '../../../plan/recipe-dir';
import { badInput, stepFailed } from '../../failures';
import { defineKind, type KindExecutor } from '../../kinds/registry';
import * as argv from '../argv';
import { runAltBootTest } from '../boot';
import { runAltReproducibleTest } from './reproducible';
import { readCarried } from '../context';
import { runTool } from '../tools';
import { VM_SKIPPED } from '../partner-rpms';
import { installLock, stagePartnerRepo, withRoot, type HostSource } from './shared';


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
    if (t.type === 'reproducible') return runAltReproducibleTest(ctx, host);
    const carried = await readCarried(ctx.step.id, ctx.inputs);
    const repo = await stagePartnerRepo(ctx, carried);
    const useVm = argv.VM_RUN_ARCHES.includes(params.arch);
    // A partner's test command is the partner's code: inside vm-run or not at all.
    const isolation = isolationFor(ctx.owner ?? { kind: 'community' });
    if (isolation === 'vm' && !useVm) {
      throw badInput(`step "${ctx.step.id}": a partner's test commands run only inside vm-run, which has no VM for ${params.arch} (it serves ${argv.VM_RUN_ARCHES.join(', ')})`);
    }
    await fs.appendFile(ctx.logPath, `--- sborka: isolation ${isolation}: the test command runs ${useVm ? 'under vm-run inside hasher (a qemu VM)' : 'through hsh-run in the hasher chroot'}\n`);
    return withRoot(ctx, host(), { branch: params.branch, arch: params.arch, repos: carried.context.repos, needKvm: useVm, initroot: { withStuff: !!repo, repo } }, async (root) => {
      await installLock(ctx, root, carried, { partner: isolation === 'vm' ? 'vm' : undefined, extra: useVm ? ['rpm-build-vm-run'] : [] });
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
      return { values: { passed: true, vm: useVm, kvm: root.kvm, isolation } };
    });
  });
}

/** What vm-run prints when it ran nothing (--kvm=cond without KVM; the stub on other arches). */
export const SKIP_MARKERS = VM_SKIPPED;
