// The API plans recipes as `sborka build` does: the recipe's overlays and scripts become
// absolute paths under the directory of the recipe that declared the product.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StepParams } from '../../plan/step-params';
import type { BuildPlan } from '../../plan/plan';
import { planFromRecipe, RecipeStore } from '../../service/api/recipes';

const PRODUCTS = path.resolve(__dirname, '..', '..', 'products');
let stateDir: string;
let store: RecipeStore;

beforeAll(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-recipe-plan-'));
  store = new RecipeStore(stateDir, PRODUCTS);
});
afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));

function configure(plan: BuildPlan): StepParams<'configure'> {
  const step = plan.variants[0]!.steps.find((s) => s.kind === 'configure');
  if (!step) throw new Error('the plan has no configure step');
  return step.params as StepParams<'configure'>;
}

test('a distribution recipe: overlay and script under products/', () => {
  const plan = planFromRecipe(store, 'maintainer', 'cloud-vm.sborka', { arches: ['x86_64'] });
  expect(plan.recipeDir).toBe(fs.realpathSync(PRODUCTS));
  const params = configure(plan);
  expect(params.overlays.map((o) => o.src)).toEqual([path.join(fs.realpathSync(PRODUCTS), 'overlays/cloud')]);
  expect(params.scripts.map((s) => s.file)).toEqual([path.join(fs.realpathSync(PRODUCTS), 'scripts/cloud-cleanup.sh')]);
  expect(fs.existsSync(params.overlays[0]!.src)).toBe(true);
});

test('a partner\'s stored variant: the recipe directory is its tenant directory, where its file lives', () => {
  store.write('partner:acme', 'acme-cloud.sborka', 'import "cloud-vm.sborka"\n\nvariant acme-cloud of alt-cloud {\n  owner partner acme\n}\n');
  const plan = planFromRecipe(store, 'partner:acme', 'acme-cloud.sborka', { arches: ['x86_64'] });
  expect(plan.product).toBe('acme-cloud');
  const tenantDir = path.join(stateDir, 'recipes', 'partner-acme');
  expect(plan.recipeDir).toBe(tenantDir);
  expect(fs.existsSync(path.join(tenantDir, 'acme-cloud.sborka'))).toBe(true);
  expect(configure(plan).overlays.every((o) => path.isAbsolute(o.src))).toBe(true);
});
