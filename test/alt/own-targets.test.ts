// Targets a product names beyond its one `profile`: an output's own (`output qcow2 { profile
// vm/... }`), and a recipe's own profiles tree (a partner's fork), whose conf.d decides on
// the worker and whose files join the build's cache key. Steps run as the workflow runs
// them, one after another, on the fakes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { StepInput, type StepResult } from '../../plan/step-contract';
import type { Step } from '../../plan/plan';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, testConfig } from '../activities/helpers';
import { fakeHost, recipePlan, useFakes, type FakeHost } from './helpers';

const FIXTURE = path.join(__dirname, 'fixtures', 'acme-fork');

let fake: FakeHost;
let undo: () => void;
let stateDir: string;
let recipes: string;
beforeEach(() => {
  fake = fakeHost({ arches: ['x86_64'] });
  undo = useFakes(fake);
  stateDir = makeTmpDir('sborka-alt-state-');
  recipes = makeTmpDir('sborka-acme-');
  fs.cpSync(FIXTURE, recipes, { recursive: true });
});
afterEach(() => {
  undo();
  for (const d of [fake.root, stateDir, recipes]) removeDir(d);
});

const config = () => testConfig(stateDir);

function runStep(step: unknown, inputs: Record<string, string>): Promise<StepResult> {
  const { runStep: run } = createActivities({ config: config(), logger: silentLogger, registry: defaultRegistry({ alt: { host: fake.host } }) });
  const input = StepInput.parse({ buildId: 'b1', variantId: 'v.x86_64', toolchain: { name: 'alt', version: '1' }, step, inputs });
  return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(run, input);
}

async function chain(file: string, ids: string[]): Promise<Record<string, StepResult>> {
  const v = recipePlan(file, ['x86_64']).variants[0]!;
  const results: Record<string, StepResult> = {};
  for (const id of ids) {
    const step = v.steps.find((s) => s.id === id)!;
    results[id] = await runStep(step, Object.fromEntries(step.needs.filter((n) => results[n]).map((n) => [n, results[n]!.key])));
  }
  return results;
}

const makeGoals = () => fake.calls().filter((c) => c[0] === 'make').map((c) => c[c.length - 1]);

describe('an output\'s own profile', () => {
  it('regular-server: the iso from distro/regular-server-systemd, the qcow2 from vm/regular-systemd', async () => {
    const r = await chain('products/regular-server.sborka', ['resolve', 'prepare-root', 'configure', 'build-iso', 'build-qcow2']);
    expect(r['build-iso']!.outputs.values).toMatchObject({ target: 'distro/regular-server-systemd.iso' });
    expect(r['build-qcow2']!.outputs.values).toMatchObject({ target: 'vm/regular-systemd.qcow2' });
    expect(makeGoals()).toEqual(['distro/regular-server-systemd-sborka.iso', 'vm/regular-systemd-sborka.qcow2']);
    // The fake make installed vm/regular-systemd's own packages into the qcow2.
    const list = fs.readFileSync(path.join(r['build-qcow2']!.outputDir, 'list-rpms.txt'), 'utf8');
    expect(list).toMatch(/^systemd-1\.0-alt1\.x86_64\.rpm$/m);
  });
});

describe('a recipe\'s own profiles tree', () => {
  const file = () => path.join(recipes, 'acme-kiosk.sborka');
  const buildStep = (): Step => recipePlan(file(), ['x86_64']).variants[0]!.steps.find((s) => s.kind === 'build')!;

  it('builds a target only the fork defines, from a copy of the fork', async () => {
    expect(buildStep().params).toMatchObject({ profilesTree: 'profiles/acme-mkimage-profiles', recipeDir: recipes });
    const r = await chain(file(), ['resolve', 'prepare-root', 'configure', 'build-qcow2']);
    expect(r['build-qcow2']!.outputs.values).toMatchObject({ target: 'vm/acme-kiosk.qcow2', profilesTree: 'profiles/acme-mkimage-profiles' });
    expect(makeGoals()).toEqual(['vm/acme-kiosk-sborka.qcow2']);
    // The worker's own tree has no vm/acme-kiosk: the fork was the one used.
    expect(fs.readFileSync(path.join(fake.profiles, 'conf.d', 'upstream.mk'), 'utf8')).not.toContain('acme-kiosk');
  });

  it('refuses at the build a target the fork lacks, naming the fork, before make runs', async () => {
    fs.writeFileSync(path.join(recipes, 'profiles', 'acme-mkimage-profiles', 'conf.d', 'acme.mk'), 'ifeq (vm,$(IMAGE_CLASS))\nvm/acme-kiosc: ; @:\nendif\n');
    const err = await chain(file(), ['resolve', 'prepare-root', 'configure', 'build-qcow2']).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', message: expect.stringContaining(`the profiles tree ${fs.realpathSync(path.join(recipes, 'profiles', 'acme-mkimage-profiles'))} (the recipe's profiles-tree profiles/acme-mkimage-profiles) defines no vm/acme-kiosk for x86_64 (conf.d/*.mk)`) });
    expect((err as Error).message).toContain('did you mean `vm/acme-kiosc`?');
    expect(makeGoals()).toEqual([]);
  });

  it('joins the fork\'s files to the build\'s cache key: an edited fork is built again', async () => {
    const executor = defaultRegistry({ alt: { host: fake.host } }).resolve('alt', 'build')!;
    const before = await executor.hostInputs!(buildStep(), config());
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    expect(await executor.hostInputs!(buildStep(), config())).toBe(before);
    fs.appendFileSync(path.join(recipes, 'profiles', 'acme-mkimage-profiles', 'conf.d', 'acme.mk'), '# edited\n');
    expect(await executor.hostInputs!(buildStep(), config())).not.toBe(before);
    // A product on the worker's own tree keeps its key as it was: no host inputs.
    const own = recipePlan('products/regular-jeos.sborka', ['x86_64']).variants[0]!.steps.find((s) => s.id === 'build-img')!;
    expect(await executor.hostInputs!(own, config())).toBeUndefined();
  });

  it('is confined to the recipe\'s directory on the worker too (a symlink out is refused)', async () => {
    const tree = path.join(recipes, 'profiles', 'acme-mkimage-profiles');
    fs.rmSync(tree, { recursive: true });
    fs.symlinkSync(fake.profiles, tree);
    const executor = defaultRegistry({ alt: { host: fake.host } }).resolve('alt', 'build')!;
    await expect(executor.hostInputs!(buildStep(), config())).rejects.toMatchObject({ message: expect.stringContaining('params.profilesTree: "profiles/acme-mkimage-profiles" leads outside the recipe directory') });
  });
});
