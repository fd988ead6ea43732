// The worker's own fence around recipe files, behind the plan's schema: a debian configure
// step run for real (a tiny root, no programs to execute) with hostile overlays and scripts,
// and the image writers' last check on file names.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { recipeInput } from '../../activities/recipe-inputs';
import { finish } from '../../activities/debian/writers/common';
import { StepStore } from '../../activities/store';
import { StepInput, type StepResult } from '../../plan/step-contract';
import type { Config } from '../../config/config';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from './helpers';

let tmp: string;
let config: Config;
let recipes: string;
let rootKey: string;
let run: (input: StepInput, info?: Partial<Info>) => Promise<StepResult>;

beforeAll(async () => {
  tmp = makeTmpDir('sborka-recipe-inputs-');
  config = testConfig(path.join(tmp, 'state'));
  fs.mkdirSync(path.join(config.stateDir, 'gnupg'), { recursive: true });
  fs.writeFileSync(path.join(config.stateDir, 'gnupg', 'secring'), 'SECRET KEY\n');
  recipes = path.join(tmp, 'recipes');
  fs.mkdirSync(recipes);
  // The smallest root configure accepts: nothing to run inside it, so no sandbox or VM.
  const root = path.join(tmp, 'root');
  for (const d of ['etc', 'tmp', 'usr/sbin']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const store = new StepStore(config.storeDir);
  const staging = await store.createStaging();
  execFileSync('tar', ['--create', `--file=${path.join(staging.outputsDir, 'rootfs.tar')}`, `--directory=${root}`, '--numeric-owner', '.']);
  rootKey = (await store.commit(staging, { kind: 'prepare-root', values: { arch: 'x86_64', debArch: 'amd64', suite: 'bookworm', sourceDateEpoch: 1_700_000_000 } })).key;
  const { runStep } = createActivities({ config, logger: silentLogger, registry: defaultRegistry(), killGraceMs: 3000 });
  run = (input, info = {}) => new MockActivityEnvironment(info, { logger: quietSdkLogger }).run(runStep, input);
});
afterAll(() => removeDir(tmp));

let n = 0;
function configure(params: Record<string, unknown>): StepInput {
  return StepInput.parse({
    buildId: `b-${++n}`, variantId: 'v.x86_64', toolchain: { name: 'debian', version: '1' },
    step: { id: 'configure', kind: 'configure', needs: ['prepare'], retry: { maximumAttempts: 1 }, params: { toolchain: 'debian', branch: 'bookworm', arch: 'x86_64', settings: {}, recipeDir: recipes, isolation: 'vm', ...params } },
    inputs: { prepare: rootKey },
  });
}

/** A fresh overlay directory under the recipe directory. */
function overlay(name: string, fill: (dir: string) => void): string {
  const dir = path.join(recipes, name);
  fs.mkdirSync(dir, { recursive: true });
  fill(dir);
  return name;
}

function rootEntries(result: StepResult): string[] {
  return execFileSync('tar', ['--list', '--verbose', `--file=${path.join(result.outputDir, 'rootfs.tar')}`]).toString().split('\n');
}

describe('overlays', () => {
  it('symlinks inside an overlay that point out are copied as links, never followed on the host', async () => {
    const src = overlay('links', (d) => {
      fs.symlinkSync('/etc/shadow', path.join(d, 'shadow'));
      fs.symlinkSync(path.join(config.stateDir, 'gnupg'), path.join(d, 'keys'));
      fs.writeFileSync(path.join(d, 'ok.conf'), 'fine\n');
    });
    const r = await run(configure({ overlays: [{ src, dest: '/etc/links' }] }));
    const entries = rootEntries(r);
    expect(entries.find((l) => l.includes('./etc/links/shadow'))).toMatch(/^l.* -> \/etc\/shadow$/);
    expect(entries.find((l) => l.includes('./etc/links/keys'))).toMatch(/^l.* -> /);
    expect(entries.some((l) => l.includes('secring'))).toBe(false);
    expect(entries.some((l) => l.includes('./etc/links/ok.conf'))).toBe(true);
  });

  it('an overlay that is itself a symlink out of the recipe directory is refused', async () => {
    fs.symlinkSync('/etc/ssh', path.join(recipes, 'ssh'));
    await expect(run(configure({ overlays: [{ src: 'ssh', dest: '/etc/ssh' }] }))).rejects.toThrow(/overlays\[0\]\.src: "ssh" leads outside the recipe directory/);
  });

  it('a hard link to a file outside is refused', async () => {
    const outside = path.join(tmp, 'outside-secret');
    fs.writeFileSync(outside, 'not the partner\'s\n');
    const src = overlay('hard', (d) => fs.linkSync(outside, path.join(d, 'copy')));
    await expect(run(configure({ overlays: [{ src, dest: '/etc/hard' }] }))).rejects.toThrow(/hard link \(copy\)/);
  });

  it('device files and FIFOs are refused', async () => {
    const dev = overlay('dev', (d) => execFileSync('mknod', [path.join(d, 'mem'), 'c', '1', '1']));
    await expect(run(configure({ overlays: [{ src: dev, dest: '/etc/dev' }] }))).rejects.toThrow(/device file, FIFO or socket \(mem\)/);
    const fifo = overlay('fifo', (d) => execFileSync('mkfifo', [path.join(d, 'pipe')]));
    await expect(run(configure({ overlays: [{ src: fifo, dest: '/etc/fifo' }] }))).rejects.toThrow(/device file, FIFO or socket \(pipe\)/);
  });

  it('a tar with ../ members is copied as a file, never unpacked', async () => {
    const tar = path.join(recipes, 'evil.tar');
    execFileSync('python3', ['-c', `import tarfile, io
t = tarfile.open(${JSON.stringify(tar)}, 'w')
data = b'pwned'
info = tarfile.TarInfo('../../../../tmp/sborka-evil-member'); info.size = len(data)
t.addfile(info, io.BytesIO(data)); t.close()`]);
    const r = await run(configure({ overlays: [{ src: 'evil.tar', dest: '/opt/evil.tar' }] }));
    expect(rootEntries(r).find((l) => l.endsWith('./opt/evil.tar'))).toMatch(/^-/);
    expect(fs.existsSync('/tmp/sborka-evil-member')).toBe(false);
  });

  it('a step that bypassed the API is still refused by the activity\'s own schema', async () => {
    const base = configure({});
    const input = { ...base, step: { ...base.step, params: { ...(base.step.params as object), overlays: [{ src: '/etc/ssh', dest: '/etc/ssh' }] } } };
    await expect(run(input as StepInput)).rejects.toThrow(/must be a relative path inside its directory: "\/etc\/ssh" is absolute/);
  });
});

describe('recipe files', () => {
  it('a script file that is a symlink to /etc/shadow is refused', async () => {
    fs.symlinkSync('/etc/shadow', path.join(recipes, 'post.sh'));
    await expect(run(configure({ scripts: [{ stage: 'post-install', interpreter: '/bin/sh', file: 'post.sh' }] }))).rejects.toThrow(/scripts\[0\]\.file: "post.sh" leads outside/);
  });

  it('no recipe directory inside the state directory, and nothing of it through a symlink', async () => {
    await expect(recipeInput('s', 'overlays[0].src', 'gnupg', config.stateDir, config)).rejects.toThrow(/recipe directory inside the state directory/);
    fs.symlinkSync(path.join(config.stateDir, 'gnupg', 'secring'), path.join(recipes, 'key.asc'));
    await expect(recipeInput('s', 'repos[0].key', 'key.asc', recipes, config)).rejects.toThrow(/leads outside/);
    // A project whose state directory lies inside it (the default): still out of reach.
    await expect(recipeInput('s', 'overlays[0].src', 'state/gnupg', tmp, config)).rejects.toThrow(/leads into the state directory/);
    await expect(recipeInput('s', 'overlays[0].src', 'state', tmp, config)).rejects.toThrow(/state directory/);
  });

  it('a tenant\'s own directory under <stateDir>/recipes is fine; another tenant\'s is out of reach', async () => {
    const acme = path.join(config.stateDir, 'recipes', 'partner-acme');
    fs.mkdirSync(path.join(config.stateDir, 'recipes', 'partner-globex'), { recursive: true });
    fs.mkdirSync(acme, { recursive: true });
    fs.writeFileSync(path.join(acme, 'motd'), 'hi\n');
    fs.writeFileSync(path.join(config.stateDir, 'recipes', 'partner-globex', 'secret.sborka'), 'x\n');
    await expect(recipeInput('s', 'overlays[0].src', 'motd', acme, config)).resolves.toBe(fs.realpathSync(path.join(acme, 'motd')));
    fs.symlinkSync('../partner-globex/secret.sborka', path.join(acme, 'theirs'));
    await expect(recipeInput('s', 'overlays[0].src', 'theirs', acme, config)).rejects.toThrow(/leads outside/);
    await expect(recipeInput('s', 'overlays[0].src', 'partner-globex', path.join(config.stateDir, 'recipes'), config)).rejects.toThrow(/state directory/);
    await expect(recipeInput('s', 'overlays[0].src', '../partner-globex/secret.sborka', acme, config)).rejects.toThrow(/has a "\.\." segment/);
    await expect(recipeInput('s', 'overlays[0].src', '/etc/passwd', acme, config)).rejects.toThrow(/is absolute/);
  });
});

describe('image file names', () => {
  it('finish() keeps the image inside the outputs directory', async () => {
    const out = path.join(tmp, 'outputs');
    fs.mkdirSync(out);
    for (const bad of ['../../x', 'sub/x.img', '/tmp/x.img', '..']) {
      const file = path.join(tmp, `img-${Math.random()}`);
      fs.writeFileSync(file, 'bytes');
      await expect(finish(file, out, bad, 'img', {})).rejects.toThrow(/params\.fileName/);
      expect(fs.existsSync(file)).toBe(true);
    }
    const file = path.join(tmp, 'img-ok');
    fs.writeFileSync(file, 'bytes');
    const w = await finish(file, out, 'x.img', 'img', {});
    expect(w.values).toMatchObject({ file: 'x.img', size: 5 });
    expect(fs.existsSync(path.join(out, 'x.img'))).toBe(true);
  });
});
