// The recipe's own diff in the morning report: each build's recipe files recorded by digest
// (activities/recipe-record.ts), read back in the owner's scope and compared with jsdiff
// (publish/recipe-sources.ts). Real recipes (products/debian/live.sborka, which imports
// minimal.sborka) compiled for two nights; the published CHANGES.md of the second; and records
// that try to break out (`..` and absolute names, another digest, a symlink, another tenant).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, defaultRegistry } from '../../activities';
import { loadRecipeSources, recordCompiled, RECIPE_SOURCES_DIR, saveRecipeSources } from '../../activities/recipe-record';
import type { Config } from '../../config/config';
import { compile } from '../../dsl/compile';
import { planProduct } from '../../dsl/planner';
import type { Owner } from '../../plan/plan';
import type { StepInput } from '../../plan/step-contract';
import { Changes, changesMarkdown, compareBuilds, type ChangeSide } from '../../publish/changes';
import { PublishConfig } from '../../publish/config-schema';
import { planFromRecipe, RecipeStore } from '../../service/api/recipes';
import { diffSources, MAX_SOURCE_BYTES, RECIPE_SOURCES_SCHEMA, recordSources, sourcesDigest } from '../../publish/recipe-sources';
import { makeTmpDir, quietSdkLogger, removeDir, silentLogger, stepInput, testConfig } from '../activities/helpers';
import { storeEntry } from './helpers';

const PRODUCTS = path.join(__dirname, '../../products');
const ENTRY = 'products/debian/live.sborka';
const IMPORTED = 'products/debian/minimal.sborka';
const original = fs.readFileSync(path.join(PRODUCTS, 'debian/minimal.sborka'), 'utf8');
// One line more in the imported file: a package of the base.
const tonight = original.replace(/^( *)systemd-sysv\n/m, '$1systemd-sysv\n$1less\n');

let dir: string;
let config: Config;
beforeAll(() => {
  dir = makeTmpDir('sborka-recipe-diff-');
  config = testConfig(path.join(dir, 'state'));
});
afterAll(() => removeDir(dir));

/** Compiles live.sborka with the imported file's text replaced; records it as `sborka build` does. */
function night(minimal: string, owner?: Owner): { digest: string; owner: Owner } {
  const host = { read: (p: string) => (p === IMPORTED ? minimal : fs.existsSync(path.join(PRODUCTS, '..', p)) ? fs.readFileSync(path.join(PRODUCTS, '..', p), 'utf8') : undefined) };
  const c = compile([ENTRY], host);
  expect(c.errorCount).toBe(0);
  const plan = planProduct(c, 'debian-live');
  recordCompiled(config.storeDir, owner ?? plan.owner, c.files, c.decls.products.get('debian-live')!.file, c.digest);
  return { digest: plan.recipeDigest, owner: owner ?? plan.owner };
}

function side(buildId: string, n: { digest: string; owner: Owner }): ChangeSide {
  const got = loadRecipeSources(config.storeDir, n.owner, n.digest);
  return { buildId, product: 'debian-live', arch: 'x86_64', recipeDigest: n.digest, ...('sources' in got ? { recipeFiles: got.sources.files } : {}) };
}

describe('the recipe diff of two nights', () => {
  it('names the imported file that changed and shows its - and + lines, in text and JSON', () => {
    expect(tonight).not.toBe(original);
    const a = night(original);
    const b = night(tonight);
    const recorded = loadRecipeSources(config.storeDir, a.owner, a.digest);
    if (!('sources' in recorded)) throw new Error(`not recorded: ${JSON.stringify(recorded)}`);
    // Relative to the declaring recipe's directory, in load order (imports first): never a host path.
    expect(recorded.sources.files.map((f) => f.name)).toEqual(['minimal.sborka', 'live.sborka']);
    expect(recorded.sources.omitted).toBe(0);
    const c = Changes.parse(JSON.parse(JSON.stringify(compareBuilds(side('night-1', a), side('night-2', b)))));
    expect(c.recipe.changed).toBe(true);
    expect(c.recipe.files?.map((f) => [f.name, f.status])).toEqual([['minimal.sborka', 'changed']]);
    const lines = c.recipe.files![0]!.lines;
    expect(lines.filter((l) => /^[-+]/.test(l))).toEqual(['+    less']);
    // Three lines of context either side of the line inserted after systemd-sysv's.
    const at = original.split('\n').findIndex((l) => l.trim() === 'systemd-sysv') + 1;
    expect(lines[0]).toBe(`@@ -${at - 2},6 +${at - 2},7 @@`);
    expect(lines).toHaveLength(8);
    const md = changesMarkdown(c);
    expect(md).toContain('- minimal.sborka changed\n\n```diff\n--- a/minimal.sborka\n+++ b/minimal.sborka\n@@');
    expect(md).toContain('\n     systemd-sysv\n+    less\n');
    expect(md).not.toContain('live.sborka');
    expect(md).not.toContain(PRODUCTS);
  });

  it('says "recipe unchanged" for two nights of the same recipe', () => {
    const a = night(original);
    const c = compareBuilds(side('night-1', a), side('night-2', a));
    expect(c.recipe.changed).toBe(false);
    expect(c.recipe.files).toEqual([]);
    expect(changesMarkdown(c)).toContain('## Recipe\n\n- recipe unchanged\n');
  });

  it('shows added and removed files whole, and says which night has no recorded text', () => {
    const d = diffSources([{ name: 'a.sborka', text: 'x\ny\n' }], [{ name: 'b.sborka', text: 'z\n' }]);
    expect(d).toEqual([
      { name: 'a.sborka', status: 'removed', lines: ['@@ -1,2 +0,0 @@', '-x', '-y'], more: 0 },
      { name: 'b.sborka', status: 'added', lines: ['@@ -0,0 +1,1 @@', '+z'], more: 0 },
    ]);
    const b = night(tonight);
    const c = compareBuilds({ buildId: 'old', product: 'debian-live', arch: 'x86_64', recipeDigest: 'f'.repeat(64) }, side('new', b));
    expect(c.recipe.unrecorded).toEqual(['old']);
    expect(changesMarkdown(c)).toContain('- recipe text not recorded for old: no text diff');
  });

  it('caps a huge diff per file, and only counts a file changed past what can be diffed', () => {
    const many = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `  packages { pkg-${tag}-${i} }`).join('\n') + '\n';
    const [capped] = diffSources([{ name: 'big.sborka', text: many('a', 300) }], [{ name: 'big.sborka', text: many('b', 300) }]);
    expect(capped!.lines).toHaveLength(400);
    expect(capped!.more).toBe(1 + 600 - 400);
    expect(changesMarkdown(compareBuilds(
      { buildId: 'n1', product: 'p', arch: 'x86_64', recipeDigest: '1', recipeFiles: [{ name: 'big.sborka', text: many('a', 300) }] },
      { buildId: 'n2', product: 'p', arch: 'x86_64', recipeDigest: '2', recipeFiles: [{ name: 'big.sborka', text: many('b', 300) }] },
    ))).toContain('```\n201 more lines\n');
    const [huge] = diffSources([{ name: 'big.sborka', text: many('a', 20_000) }], [{ name: 'big.sborka', text: many('b', 20_000) }]);
    expect(huge).toEqual({ name: 'big.sborka', status: 'changed', lines: [], more: 0, tooLarge: { from: 20_000, to: 20_000 } });
    // A text over the compiler's size limit is not recorded at all.
    const set = recordSources([{ path: 'p/a.sborka', text: 'x' }, { path: 'p/b.sborka', text: 'y'.repeat(MAX_SOURCE_BYTES + 1) }], 'p', '0'.repeat(64));
    expect(set.files.map((f) => f.name)).toEqual(['a.sborka']);
    expect(set.omitted).toBe(1);
  });
});

describe('records that try to break out', () => {
  const community: Owner = { kind: 'community' };
  const write = (name: string, body: unknown) => {
    const d = path.join(config.storeDir, RECIPE_SOURCES_DIR);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, name), JSON.stringify(body));
  };
  const setOf = (names: string[]) => {
    const files = names.map((name) => ({ name, text: `# ${name}\n` }));
    return { schema: RECIPE_SOURCES_SCHEMA, digest: sourcesDigest(files.map((f) => f.text)), files, omitted: 0 };
  };

  it.each([['../../etc/passwd.sborka'], ['/etc/x.sborka'], ['a/../../x.sborka'], ['a\\..\\x.sborka'], ['./a.sborka'], ['a\nb.sborka'], ['a.sh']])('refuses a recorded set naming %s when read back', (bad) => {
    const set = setOf(['ok.sborka', bad]);
    write(`${set.digest}.json`, set);
    const got = loadRecipeSources(config.storeDir, community, set.digest);
    expect('refused' in got && got.refused).toMatch(/recipe file name/);
    // Nor does the writer record it.
    expect(() => saveRecipeSources(path.join(dir, 'other-store'), community, set as never)).toThrow(/recipe file name/);
    // Made from a compilation, such a file is left out and counted.
    expect(recordSources([{ path: 'p/../x.sborka', text: '' }, { path: '/etc/y.sborka', text: '' }], 'p', set.digest).files).toEqual([]);
  });

  it('refuses a set whose texts are not of its digest, a set under another digest, and a symlink', () => {
    const set = setOf(['a.sborka']);
    write(`${set.digest}.json`, { ...set, files: [{ name: 'a.sborka', text: 'tampered\n' }] });
    expect(loadRecipeSources(config.storeDir, community, set.digest)).toEqual({ refused: 'the recorded texts do not give the recorded digest' });
    const other = setOf(['b.sborka']);
    write(`${other.digest}.json`, set);
    expect('refused' in loadRecipeSources(config.storeDir, community, other.digest)).toBe(true);
    const link = setOf(['c.sborka']);
    const target = path.join(dir, 'elsewhere.json');
    fs.writeFileSync(target, JSON.stringify(link));
    fs.symlinkSync(target, path.join(config.storeDir, RECIPE_SOURCES_DIR, `${link.digest}.json`));
    expect(loadRecipeSources(config.storeDir, community, link.digest)).toEqual({ refused: `${link.digest}.json is not a regular file` });
    expect(loadRecipeSources(config.storeDir, community, '../x')).toEqual({ refused: 'not a recipe digest' });
  });

  it("keeps a partner's recipe in its tenant scope", () => {
    const acme: Owner = { kind: 'partner', name: 'acme' };
    const n = night(tonight.replace('less', 'acme-secret-tool'), acme);
    expect('sources' in loadRecipeSources(config.storeDir, acme, n.digest)).toBe(true);
    expect(loadRecipeSources(config.storeDir, { kind: 'partner', name: 'globex' }, n.digest)).toEqual({ missing: true });
    expect(loadRecipeSources(config.storeDir, community, n.digest)).toEqual({ missing: true });
    expect(fs.existsSync(path.join(config.storeDir, 'tenants', 'acme', RECIPE_SOURCES_DIR, `${n.digest}.json`))).toBe(true);
  });

  it("records a partner's stored recipe, built through the API, in the partner's scope only", () => {
    const recipes = new RecipeStore(path.join(dir, 'api-state'), PRODUCTS);
    recipes.write('partner:acme', 'acme-cloud.sborka', 'import "cloud-vm.sborka"\n\nvariant acme-cloud of alt-cloud {\n  owner partner acme\n}\n');
    const plan = planFromRecipe(recipes, 'partner:acme', 'acme-cloud.sborka', { arches: ['x86_64'], recordTo: config.storeDir });
    const got = loadRecipeSources(config.storeDir, plan.owner, plan.recipeDigest);
    if (!('sources' in got)) throw new Error(`not recorded: ${JSON.stringify(got)}`);
    // The distribution's imports by their names under products/, the partner's file by its own.
    expect(got.sources.files.map((f) => f.name)).toContain('acme-cloud.sborka');
    expect(got.sources.files.map((f) => f.name)).toContain('cloud-vm.sborka');
    expect(got.sources.files.every((f) => !f.name.includes(dir))).toBe(true);
    expect(loadRecipeSources(config.storeDir, { kind: 'community' }, plan.recipeDigest)).toEqual({ missing: true });
    expect(loadRecipeSources(config.storeDir, { kind: 'partner', name: 'globex' }, plan.recipeDigest)).toEqual({ missing: true });
  });
});

describe('the published CHANGES.md', () => {
  function run(input: StepInput, now: Date, publishConfig: PublishConfig) {
    const registry = defaultRegistry({ publish: { publishConfig, now: () => now } });
    const { runStep } = createActivities({ config, logger: silentLogger, registry });
    return new MockActivityEnvironment({}, { logger: quietSdkLogger }).run(runStep, input);
  }
  async function publishNight(buildId: string, digest: string): Promise<StepInput> {
    const inputs = { 'build-img': await storeEntry(config.storeDir, 'build', { 'demo-x86_64.img': buildId }, {}) };
    return stepInput({
      id: 'publish-files', kind: 'publish', needs: Object.keys(inputs), cacheable: false,
      params: { publish: { target: 'files', path: `${dir}/published/nightly/debian-live/{build}/x86_64` }, product: 'debian-live', arch: 'x86_64', artifacts: ['img'], recipeDigest: digest, owner: { kind: 'community' } },
    }, { buildId, inputs });
  }

  it("carries tonight's recipe diff against the version published before", async () => {
    fs.mkdirSync(path.join(dir, 'published'), { recursive: true });
    const publishConfig = PublishConfig.parse({ files: [{ root: path.join(dir, 'published'), owners: ['*'] }], signing: { unsigned: true } });
    await run(await publishNight('night-1', night(original).digest), new Date('2024-01-01T03:00:00Z'), publishConfig);
    await run(await publishNight('night-2', night(tonight).digest), new Date('2024-01-02T03:00:00Z'), publishConfig);
    const v2 = path.join(dir, 'published/nightly/debian-live/night-2/x86_64');
    const c = Changes.parse(JSON.parse(fs.readFileSync(path.join(v2, 'changes.json'), 'utf8')));
    expect(c.recipe.files?.map((f) => [f.name, f.lines.filter((l) => /^[-+]/.test(l))])).toEqual([['minimal.sborka', ['+    less']]]);
    expect(fs.readFileSync(path.join(v2, 'CHANGES.md'), 'utf8')).toContain('- minimal.sborka changed\n\n```diff\n');
  });
});
