// The API plans recipes as `sborka build` does: the recipe's overlays and scripts stay
// relative (confined by the schema) and the steps that read them carry the directory of the
// recipe that declared the product; a partner's configure step runs its code in a VM.
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
  expect(params.overlays.map((o) => o.src)).toEqual(['overlays/cloud']);
  expect(params.scripts.map((s) => s.file)).toEqual(['scripts/cloud-cleanup.sh']);
  expect(params.recipeDir).toBe(fs.realpathSync(PRODUCTS));
  expect(params.isolation).toBe('host-sandbox');
  // The distribution's prepare-root keeps its params (and its cache key): its packages install on the host.
  expect(plan.variants[0]!.steps.find((s) => s.kind === 'prepare-root')!.params).not.toHaveProperty('isolation');
  expect(fs.existsSync(path.join(params.recipeDir!, params.overlays[0]!.src))).toBe(true);
});

test('a partner\'s stored variant: the recipe directory is its tenant directory, where its file lives', () => {
  store.write('partner:acme', 'acme-cloud.sborka', 'import "cloud-vm.sborka"\n\nvariant acme-cloud of alt-cloud {\n  owner partner acme\n}\n');
  const plan = planFromRecipe(store, 'partner:acme', 'acme-cloud.sborka', { arches: ['x86_64'] });
  expect(plan.product).toBe('acme-cloud');
  const tenantDir = path.join(stateDir, 'recipes', 'partner-acme');
  expect(plan.recipeDir).toBe(tenantDir);
  expect(fs.existsSync(path.join(tenantDir, 'acme-cloud.sborka'))).toBe(true);
  expect(configure(plan).overlays.every((o) => !path.isAbsolute(o.src))).toBe(true);
  expect(configure(plan).recipeDir).toBe(tenantDir);
  expect(configure(plan).isolation).toBe('vm');
  // A partner's root is only unpacked; its packages' maintainer scripts run in configure's VM.
  expect(plan.variants[0]!.steps.find((s) => s.kind === 'prepare-root')!.params).toMatchObject({ isolation: 'vm' });
});
