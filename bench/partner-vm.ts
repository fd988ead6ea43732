// What putting a partner's code in a VM costs: the debian configure step of a variant with
// one post-install script, run with isolation "host-sandbox" (bubblewrap, the distribution's
// own recipes) and "vm" (qemu: KVM where it works, TCG otherwise; the root goes in as an
// ext4 disk and comes back), on the same Debian root, alternately. Prints JSON.
// Run: npx tsc -p . && node build/bench/partner-vm.js   (BENCH_N runs each, default 2;
// BENCH_ROOT_TAR: a Debian root tarball to use instead of a minbase bookworm made once)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { createActivities, defaultRegistry } from '../activities';
import { StepStore } from '../activities/store';
import { detectKvm } from '../activities/vm/kvm';
import { prepareVmKernel } from '../activities/vm/kernels';
import { loadConfig } from '../config/config';
import { StepInput, type StepResult } from '../plan/step-contract';

const N = Number(process.env.BENCH_N ?? 2);
const SDE = 1_700_000_000;
const SCRIPT = '#!/bin/sh\nset -e\necho "partner hook" > /etc/acme-release\nfor i in $(seq 1 200); do echo "$i" >> /var/tmp/acme.log; done\n';
const quiet = () => undefined;
const sdkLogger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

/** A minbase bookworm root (no kernel: the script is what is measured), made once per machine. */
function rootTar(): string {
  if (process.env.BENCH_ROOT_TAR) return process.env.BENCH_ROOT_TAR;
  const tar = path.join(os.tmpdir(), 'sborka-bench-partner-vm-root.tar');
  if (!fs.existsSync(tar)) {
    execFileSync('mmdebstrap', ['--quiet', '--variant=minbase', 'bookworm', `${tar}.partial.tar`], { env: { ...process.env, SOURCE_DATE_EPOCH: String(SDE) }, stdio: 'ignore', timeout: 900_000 });
    fs.renameSync(`${tar}.partial.tar`, tar);
  }
  return tar;
}

async function main(): Promise<void> {
  const project = loadConfig();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-partner-vm-'));
  // A throw-away store and state; the VM kernel comes from the project's download cache.
  const config = loadConfig({ SBORKA_STATE_DIR: path.join(work, 'state'), SBORKA_STORE_DIR: path.join(work, 'store') });
  fs.mkdirSync(path.join(project.stateDir, 'vm-kernels'), { recursive: true });
  fs.mkdirSync(config.stateDir, { recursive: true });
  fs.symlinkSync(path.join(project.stateDir, 'vm-kernels'), path.join(config.stateDir, 'vm-kernels'));
  const recipes = path.join(work, 'recipes');
  fs.mkdirSync(recipes);
  fs.writeFileSync(path.join(recipes, 'post.sh'), SCRIPT);
  const result: Record<string, unknown> = { loadavg: os.loadavg(), cpus: os.cpus().length, runsEach: N };
  try {
    const tar = rootTar();
    result.rootBytes = fs.statSync(tar).size;
    await prepareVmKernel('x86_64', { stateDir: config.stateDir });
    const kvm = await detectKvm({ stateDir: config.stateDir });
    result.kvm = { usable: kvm.usable, reason: kvm.reason };
    const store = new StepStore(config.storeDir);
    const staging = await store.createStaging();
    fs.copyFileSync(tar, path.join(staging.outputsDir, 'rootfs.tar'));
    const rootKey = (await store.commit(staging, { kind: 'prepare-root', values: { arch: 'x86_64', debArch: 'amd64', suite: 'bookworm', sourceDateEpoch: SDE } })).key;
    const { runStep } = createActivities({ config, logger: pino({ level: 'silent' }), registry: defaultRegistry(), killGraceMs: 3000 });
    const ms: Record<'host-sandbox' | 'vm', number[]> = { 'host-sandbox': [], vm: [] };
    for (let i = 0; i < N; i++) {
      for (const isolation of ['host-sandbox', 'vm'] as const) {
        const input = StepInput.parse({
          // A fresh build id and attempt each time: the store would otherwise serve the second run.
          buildId: `bench-${isolation}-${i}`, variantId: 'acme.x86_64', toolchain: { name: 'debian', version: `bench-${Date.now()}` },
          step: { id: 'configure', kind: 'configure', needs: ['prepare'], retry: { maximumAttempts: 1 }, timeouts: { startToCloseMs: 3_600_000, heartbeatMs: 3_600_000 },
            params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', settings: {}, recipeDir: recipes, isolation, scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file: 'post.sh' }] } },
          inputs: { prepare: rootKey },
        });
        const t = Date.now();
        const r: StepResult = await new MockActivityEnvironment({}, { logger: sdkLogger }).run(runStep, input);
        if (r.cached) throw new Error('the store served the step: nothing was measured');
        ms[isolation].push(Date.now() - t);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    result.configureMs = ms;
    result.medianMs = { hostSandbox: median(ms['host-sandbox']), vm: median(ms.vm) };
    result.vmOverheadMs = median(ms.vm) - median(ms['host-sandbox']);
    result.vmSlowdown = Number((median(ms.vm) / median(ms['host-sandbox'])).toFixed(2));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
