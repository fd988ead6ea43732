import { planDot, planJson, planProduct, planText } from '../../dsl/planner';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { chooseProducts, compileRecipe } from '../recipe-files';

const usage = 'sborka plan <file> [--product P] [--arch A]... [--json | --dot]';

export const planCommand: Command = {
  name: 'plan',
  summary: 'compile a recipe into its BuildPlan (steps, needs, cache keys)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { product: { type: 'string' }, arch: { type: 'string', multiple: true }, json: { type: 'boolean' }, dot: { type: 'boolean' } },
      usage,
    );
    if (values.json && values.dot) throw new UserError(`--json and --dot exclude each other\nusage: ${usage}`, EXIT.usage);
    const [file] = requirePositional(positionals, 1, usage);
    if (positionals.length > 1) throw new UserError(`plan takes one recipe file (its imports are read from it)\nusage: ${usage}`, EXIT.usage);
    const c = compileRecipe(file as string, io);
    const [product] = chooseProducts(c, file as string, values.product, 'one');
    let plan;
    try {
      plan = planProduct(c, product as string, { arches: values.arch ?? [] });
    } catch (e) {
      throw new UserError((e as Error).message, EXIT.usage);
    }
    io.stdout.write(values.json ? planJson(plan) : values.dot ? planDot(plan) : planText(plan));
    return EXIT.ok;
  },
};
