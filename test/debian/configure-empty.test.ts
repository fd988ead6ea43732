// configure with nothing to do takes the prepared root as it is (same bytes, same digest, no
// unpacking); anything that gives it work takes the full path: a setting, an unpacked root, a
// kernel or SSH host keys in the root, wherever a symlink would put them. The roots are small
// hand-made trees committed to a real store as a prepare-root step's outputs.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { settingsEmpty } from '../../activities/debian/configure-empty';
import { StepStore } from '../../activities/store';
import { StepInput, type StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';

jest.setTimeout(120_000);

let stateDir: string;
let config: Config;
let run: (step: Record<string, unknown>, inputs: Record<string, string>) => Promise<StepResult>;

beforeAll(() => {
  stateDir = makeTmpDir('sborka-configure-empty-');
  config = testConfig(stateDir);
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry(), killGraceMs: 3000 });
  let n = 0;
  run = (step, inputs) => new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, StepInput.parse({
    buildId: `build-${++n}`, variantId: 'configure-empty-test', toolchain: { name: 'debian', version: '1' }, step, inputs,
  }));
});
afterAll(() => removeDir(stateDir));

const EPOCH = 1_700_000_000;

/** A prepare-root entry holding a tar of `files` (path → content; a leading @ makes a symlink). */
async function preparedRoot(files: Record<string, string>, values: Record<string, unknown> = {}): Promise<string> {
  const tree = makeTmpDir('sborka-configure-empty-tree-');
  for (const [p, content] of Object.entries(files)) {
    const at = path.join(tree, p);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    if (content.startsWith('@')) fs.symlinkSync(content.slice(1), at);
    else fs.writeFileSync(at, content);
  }
  const store = new StepStore(config.storeDir);
  const staging = await store.createStaging();
  execFileSync('tar', ['--create', `--file=${path.join(staging.outputsDir, 'rootfs.tar')}`, `--directory=${tree}`, '--sort=name', '--numeric-owner',
    '--owner=0', '--group=0', `--mtime=@${EPOCH}`, '--format=pax', '.']);
  removeDir(tree);
  const entry = await store.commit(staging, {
    kind: 'prepare-root',
    values: { arch: 'x86_64', debArch: 'amd64', suite: 'bookworm', sourceDateEpoch: EPOCH, packages: 1, unpacked: false, ...values },
  });
  return entry.key;
}

const configureStep = (extra: Record<string, unknown> = {}) => ({
  id: 'configure', kind: 'configure', needs: ['prepare-root'],
  params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', settings: {}, ...extra },
});
const digest = (r: StepResult) => r.outputs.files.find((f) => f.path === 'rootfs.tar')?.sha256;
const members = (r: StepResult) => execFileSync('tar', ['--list', `--file=${path.join(r.outputDir, 'rootfs.tar')}`]).toString().split('\n');
const BASE = { 'etc/os-release': 'ID=debian\n', 'usr/bin/true': 'x', 'usr/share/doc/README': 'hello\n' };

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('configure with nothing to do', () => {
  test('takes the prepared root as it is: the same bytes, its digest, no unpacking', async () => {
    const key = await preparedRoot(BASE);
    const input = (await new StepStore(config.storeDir).lookup(key))!;
    const r = await run(configureStep(), { 'prepare-root': key });
    expect(digest(r)).toBe(input.manifest.outputs.files.find((f) => f.path === 'rootfs.tar')!.sha256);
    expect(fs.readFileSync(path.join(r.outputDir, 'rootfs.tar')).equals(fs.readFileSync(path.join(input.outputsDir, 'rootfs.tar')))).toBe(true);
    expect(r.outputs.values).toMatchObject({ arch: 'x86_64', debArch: 'amd64', suite: 'bookworm', sourceDateEpoch: EPOCH, unchanged: true, record: { inputs: { 'prepare-root': key } } });
    const log = fs.readFileSync(r.logPath, 'utf8');
    expect(log).toContain('nothing to configure');
    expect(log).not.toContain('tar --extract');
  });

  test('a setting is work: the root is unpacked, edited and packed again', async () => {
    const key = await preparedRoot(BASE);
    const r = await run(configureStep({ settings: { hostname: 'box' } }), { 'prepare-root': key });
    expect(r.outputs.values.unchanged).toBeUndefined();
    expect(members(r)).toContain('./etc/hostname');
  });

  test('SSH host keys in the root are work: configure removes them', async () => {
    const key = await preparedRoot({ ...BASE, 'etc/ssh/ssh_host_ed25519_key': 'secret', 'etc/ssh/ssh_host_ed25519_key.pub': 'pub' });
    const r = await run(configureStep(), { 'prepare-root': key });
    expect(r.outputs.values.unchanged).toBeUndefined();
    expect(members(r).filter((m) => m.includes('ssh_host_'))).toEqual([]);
    expect(fs.readFileSync(r.logPath, 'utf8')).toContain('configured in full');
  });

  test('a kernel is work, also behind a symlinked /boot: the full path asks for its initramfs tool', async () => {
    const kernels: Array<Record<string, string>> = [{ 'boot/vmlinuz-6.1.0-1-amd64': 'k' }, { boot: '@opt/k', 'opt/k/vmlinuz-6.1.0-1-amd64': 'k' }];
    for (const files of kernels) {
      const key = await preparedRoot({ ...BASE, ...files });
      const f = await failureOf(run(configureStep(), { 'prepare-root': key }));
      expect(f.message).toMatch(/no update-initramfs/);
    }
  });

  test('a root prepare-root only unpacked is work: its packages are installed', async () => {
    const key = await preparedRoot(BASE, { unpacked: true });
    const f = await failureOf(run(configureStep(), { 'prepare-root': key }));
    expect(f.message).toMatch(/holds no packages/);
  });

  test('settings count as empty only when every field is absent or an empty list', () => {
    expect(settingsEmpty({ users: [], enableServices: [], disableServices: [] })).toBe(true);
    expect(settingsEmpty({ users: [], hostname: 'x' })).toBe(false);
    expect(settingsEmpty({ users: [{ name: 'u' }] })).toBe(false);
    expect(settingsEmpty({ someFutureSetting: false })).toBe(false);
  });
});
