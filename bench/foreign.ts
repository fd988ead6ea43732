// Foreign arches against native: the same recipe (bookworm, the cloud kernel, systemd-sysv
// and udev; settings, a user, an overlay, a post-install script; an img; its boot test to
// "login:") built end to end for x86_64 (the baseline: this host's own arch) and aarch64,
// one after the other in one run, each from an empty state directory and .deb cache (cold:
// downloads included), through the step kinds directly (runStep, no engine). Prints JSON:
// each pipeline's seconds per step, the totals and the ratio aarch64 / x86_64 (target <= 3).
// BENCH_FOREIGN_ARCHES=aarch64,riscv64 picks the foreign ones; BENCH_FOREIGN_VM=1 adds each
// foreign arch again with SBORKA_FOREIGN_RUNNER=vm (its packages installed in a TCG VM: the
// way before qemu-user), for the before/after in the same run.
// Run as root: npx tsc -p . && nice -n 10 node build/bench/foreign.js
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { createActivities, defaultRegistry } from '../activities';
import { loadConfig } from '../config/config';
import { StepInput, type StepResult } from '../plan/step-contract';

type Arch = 'x86_64' | 'aarch64' | 'riscv64';
const TARGET_RATIO = 3;
const KERNEL: Record<Arch, string> = { x86_64: 'cloud', aarch64: 'cloud', riscv64: 'default' };
/** riscv64 is a release architecture from trixie on (its ratio is against bookworm's x86_64). */
const BRANCH: Record<Arch, string> = { x86_64: 'bookworm', aarch64: 'bookworm', riscv64: 'trixie' };
const VM_MODULES = ['virtio_pci', 'virtio_mmio', 'virtio_blk', 'ext4', 'crc32c_generic'];
const quiet = () => undefined;
const sdkLogger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

interface Pipeline { arch: Arch; runner: 'native' | 'qemu-user' | 'vm'; seconds: Record<string, number>; totalSeconds: number; passed: boolean }

async function pipeline(arch: Arch, runner: Pipeline['runner'], work: string): Promise<Pipeline> {
  const project = loadConfig();
  const dir = fs.mkdtempSync(path.join(work, `${arch}-${runner}-`));
  const config = loadConfig({ SBORKA_STATE_DIR: path.join(dir, 'state'), SBORKA_STORE_DIR: path.join(dir, 'store') });
  fs.mkdirSync(config.stateDir, { recursive: true });
  // The VM kernels (the runner's, not the product's) come from the project's download cache.
  fs.mkdirSync(path.join(project.stateDir, 'vm-kernels'), { recursive: true });
  fs.symlinkSync(path.join(project.stateDir, 'vm-kernels'), path.join(config.stateDir, 'vm-kernels'));
  const saved = { cache: process.env.SBORKA_DEBIAN_CACHE_DIR, runner: process.env.SBORKA_FOREIGN_RUNNER };
  process.env.SBORKA_DEBIAN_CACHE_DIR = path.join(dir, 'debs');
  if (runner === 'vm') process.env.SBORKA_FOREIGN_RUNNER = 'vm';
  else delete process.env.SBORKA_FOREIGN_RUNNER;
  const recipeDir = path.join(dir, 'recipe');
  const overlay = path.join(recipeDir, 'overlay');
  fs.mkdirSync(path.join(overlay, 'etc/initramfs-tools/conf.d'), { recursive: true });
  fs.writeFileSync(path.join(overlay, 'etc/motd'), 'built by sborka\n');
  fs.writeFileSync(path.join(overlay, 'etc/initramfs-tools/conf.d/vm.conf'), 'MODULES=list\n');
  fs.writeFileSync(path.join(overlay, 'etc/initramfs-tools/modules'), `${VM_MODULES.join('\n')}\n`);
  const { runStep } = createActivities({ config, logger: pino({ level: 'silent' }), registry: defaultRegistry(), killGraceMs: 3000 });
  const t = { toolchain: 'debian', branch: BRANCH[arch], arch };
  const steps: Array<[string, Record<string, unknown>, string | undefined]> = [
    ['resolve', { kind: 'resolve', cacheable: false, params: { ...t, packages: ['systemd-sysv', 'udev'], kernel: KERNEL[arch] } }, undefined],
    ['prepare-root', { kind: 'prepare-root', params: t }, 'resolve'],
    ['configure', { kind: 'configure', params: { ...t, recipeDir, overlays: [{ src: 'overlay', dest: '/' }],
      settings: { hostname: `bench-${arch.replace('_', '-')}`, timezone: 'Europe/Moscow', locale: 'C.UTF-8', rootPasswordHash: '!', users: [{ name: 'alice', groups: ['users'], uid: 1500 }] },
      scripts: [{ stage: 'post-install', interpreter: '/bin/sh', inline: 'set -e\nuname -m > /etc/script-arch\n' }] } }, 'prepare-root'],
    ['build-img', { kind: 'build', params: { ...t, output: { format: 'img', sizeBytes: 2048 * 1024 * 1024 }, fileName: 'disk.img' } }, 'configure'],
    ['test-boot', { kind: 'test', params: { ...t, test: { type: 'boot', timeoutMs: 900_000, expect: 'login:' } } }, 'build-img'],
  ];
  const seconds: Record<string, number> = {};
  const keys: Record<string, string> = {};
  let last: StepResult | undefined;
  const started = Date.now();
  try {
    for (const [id, step, need] of steps) {
      const s = Date.now();
      const r: StepResult = await new MockActivityEnvironment({}, { logger: sdkLogger }).run(runStep, StepInput.parse({
        buildId: `bench-${arch}-${runner}`, variantId: `bench.${arch}`, toolchain: { name: 'debian', version: '1' },
        step: { id, ...step, ...(need ? { needs: [need] } : {}), retry: { maximumAttempts: 1 }, timeouts: { startToCloseMs: 7_200_000, heartbeatMs: 7_200_000 } },
        inputs: need ? { [need]: keys[need]! } : {},
      }));
      keys[id] = r.key;
      last = r;
      seconds[id] = Math.round((Date.now() - s) / 100) / 10;
    }
  } finally {
    if (saved.cache === undefined) delete process.env.SBORKA_DEBIAN_CACHE_DIR;
    else process.env.SBORKA_DEBIAN_CACHE_DIR = saved.cache;
    if (saved.runner === undefined) delete process.env.SBORKA_FOREIGN_RUNNER;
    else process.env.SBORKA_FOREIGN_RUNNER = saved.runner;
    if (!process.env.SBORKA_BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
  return { arch, runner, seconds, totalSeconds: Math.round((Date.now() - started) / 100) / 10, passed: last?.outputs.values.passed === true };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-foreign-'));
  const foreign = (process.env.BENCH_FOREIGN_ARCHES ?? 'aarch64').split(',').filter(Boolean) as Arch[];
  const result: Record<string, unknown> = { loadavgBefore: os.loadavg(), cpus: os.cpus().length, baseline: 'x86_64 (native) through the same steps in the same run', targetRatio: TARGET_RATIO };
  try {
    const native = await pipeline('x86_64', 'native', work);
    const runs: Pipeline[] = [native];
    for (const arch of foreign) {
      runs.push(await pipeline(arch, 'qemu-user', work));
      if (process.env.BENCH_FOREIGN_VM === '1') runs.push(await pipeline(arch, 'vm', work));
    }
    result.pipelines = runs;
    result.ratios = Object.fromEntries(runs.slice(1).map((r) => [`${r.arch}/${r.runner}`, Number((r.totalSeconds / native.totalSeconds).toFixed(2))]));
    result.withinTarget = runs.slice(1).filter((r) => r.runner === 'qemu-user').every((r) => r.totalSeconds / native.totalSeconds <= TARGET_RATIO);
    result.loadavgAfter = os.loadavg();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
