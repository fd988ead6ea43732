// What a VM run costs: kernel preparation (cold is a one-off download + build; warm is
// the cache lookup), the KVM probe, and a `true` under TCG per architecture, plus qemu
// alone until the guest reports. Prints JSON.
// Run: npx tsc -p . && node build/bench/vm.js   (BENCH_N runs per arch, default 3)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fetchArchPackage, prepareVmKernel, type VmArch } from '../activities/vm/kernels';
import { detectKvm } from '../activities/vm/kvm';
import { runInVm } from '../activities/vm/run-in-vm';
import { loadConfig } from '../config/config';

const N = Number(process.env.BENCH_N ?? 3);
const ARCHES: VmArch[] = ['x86_64', 'aarch64', 'riscv64'];

async function main(): Promise<void> {
  const { stateDir } = loadConfig();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-vm-'));
  const result: Record<string, unknown> = { loadavg: os.loadavg(), cpus: os.cpus().length };
  try {
    const prep: Record<string, number> = {};
    for (const arch of ARCHES) {
      const t = Date.now();
      await prepareVmKernel(arch, { stateDir });
      prep[arch] = Date.now() - t;
    }
    result.prepareKernelMs = prep;
    let t = Date.now();
    const kvm = await detectKvm({ stateDir });
    result.kvmProbe = { ...kvm, ms: Date.now() - t };
    const runs: Record<string, { ms: number[]; medianMs: number }> = {};
    for (const arch of ARCHES) {
      const root = path.join(work, arch);
      fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
      const x = path.join(work, `x-${arch}`);
      execFileSync('dpkg-deb', ['-x', (await fetchArchPackage(arch, 'busybox-static', { stateDir })).deb, x]);
      const bb = ['bin/busybox', 'usr/bin/busybox'].map((f) => path.join(x, f)).find((f) => fs.existsSync(f))!;
      fs.copyFileSync(bb, path.join(root, 'bin/busybox'));
      fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
      fs.symlinkSync('busybox', path.join(root, 'bin/true'));
      const ms: number[] = [];
      for (let i = 0; i < N; i++) {
        t = Date.now();
        const r = await runInVm({ arch, root, command: ['true'], kvm: 'tcg', stateDir, consoleLog: path.join(work, `${arch}-${i}.log`) });
        if (r.status !== 'exited' || r.exitCode !== 0) throw new Error(`${arch}: ${r.status} ${r.reason}`);
        ms.push(Date.now() - t);
      }
      ms.sort((a, b) => a - b);
      runs[arch] = { ms, medianMs: ms[Math.floor(ms.length / 2)]! };
    }
    result.trueUnderTcg = runs;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
