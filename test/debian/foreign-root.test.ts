// How a foreign-arch root travels to its VM and back (activities/debian/sandbox.ts), on a
// tiny real arm64 root (busybox-static, plus GNU tar and its libraries, which the VM's way
// back uses): both ways, through the host's loop mount and as a tar the VM writes (hosts
// without loop devices), bring back the files the program made with their owners, modes and
// hard links, and the program's own exit code. One short TCG boot each.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { runInRoot } from '../../activities/debian/sandbox';
import { defineKind, KindRegistry } from '../../activities/kinds/registry';
import { StepInput, type StepResult } from '../../plan/step-contract';
import { fetchArchPackage } from '../../activities/vm/kernels';
import { loadConfig } from '../../config/config';
import { busyboxRoot, stateDir as vmStateDir, tmpDir } from '../vm/fixtures';
import { quietSdkLogger, removeDir, silentLogger } from '../activities/helpers';
import { qemuUnder } from './image-fixture';

jest.setTimeout(10 * 60_000);

// Runs in the root: files with an owner, a mode and a hard link, then the exit code 3.
const SCRIPT = 'echo made > /made && chown 1500:1500 /made && chmod 640 /made && ln /made /made-link && mkdir -m 710 /dir && exit 3';

let dir: string;
beforeAll(() => {
  dir = tmpDir('sborka-foreign-root-');
});
afterAll(() => {
  const alive = qemuUnder(dir);
  removeDir(dir);
  expect(alive).toEqual([]);
});

/** GNU tar of arm64 with what it links to: the root's own tar writes it back in the VM (xattrs kept). */
const TAR_PACKAGES = ['tar', 'libc6', 'libacl1', 'libselinux1', 'libpcre2-8-0'];

async function arm64Root(parent: string): Promise<string> {
  const root = await busyboxRoot('aarch64', parent);
  for (const name of TAR_PACKAGES) {
    const { deb } = await fetchArchPackage('aarch64', name, { stateDir: vmStateDir });
    execFileSync('dpkg-deb', ['-x', deb, root]);
  }
  return root;
}

test.each(['auto', 'vm'] as const)('SBORKA_FOREIGN_ROOT_COPY=%s: the root comes back from its VM with the files the program made, their owners, modes and hard links, and its exit code', async (copy) => {
  const stateDir = path.join(dir, copy);
  fs.mkdirSync(stateDir);
  // The VM kernels come from the project's cache (downloaded once for every test file).
  fs.symlinkSync(path.join(vmStateDir, 'vm-kernels'), path.join(stateDir, 'vm-kernels'));
  const config = loadConfig({ SBORKA_STATE_DIR: stateDir, SBORKA_FOREIGN_ROOT_COPY: copy });
  const seen: Record<string, unknown> = {};
  const probe = defineKind('noop', async (ctx) => {
    const root = await arm64Root(ctx.workDir);
    // isolation "vm": a partner's programs, which always go to a VM (the distribution's own go through qemu-user).
    const r = await runInRoot(ctx, root, 'arm64', { argv: ['/bin/sh', '-c', SCRIPT], phase: 'probe' }, 'vm');
    const made = fs.statSync(path.join(root, 'made'));
    Object.assign(seen, {
      ok: r.ok, failure: (r.failure as Error | undefined)?.message,
      made: fs.readFileSync(path.join(root, 'made'), 'utf8'), owner: [made.uid, made.gid], mode: made.mode & 0o777, links: made.nlink,
      linked: fs.statSync(path.join(root, 'made-link')).ino === made.ino,
      dirMode: fs.statSync(path.join(root, 'dir')).mode & 0o777,
      busybox: fs.statSync(path.join(root, 'bin/busybox')).mode & 0o777,
    });
    return {};
  });
  const { runStep } = createActivities({ config, logger: silentLogger, registry: new KindRegistry().register('*', probe), killGraceMs: 3000 });
  const result: StepResult = await new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: 'build-1', variantId: 'foreign-root', toolchain: { name: 'debian', version: '1' }, step: { id: 'probe', kind: 'noop', params: {} }, inputs: {},
  }));
  expect(seen).toEqual({
    ok: false, failure: '/bin/sh exited with code 3 in the aarch64 VM',
    made: 'made\n', owner: [1500, 1500], mode: 0o640, links: 2, linked: true, dirMode: 0o710, busybox: 0o755,
  });
  // This host allows loop mounts: `auto` took one, `vm` did not.
  const mounts = fs.readFileSync(result.logPath, 'utf8').match(/"mount","-t","ext4","-o","loop,ro"/g) ?? [];
  expect(mounts).toHaveLength(copy === 'auto' ? 1 : 0);
});
