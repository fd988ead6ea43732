import { compile } from '../../dsl/compile';
import { renderDiagnostics } from '../../dsl/diagnostics';
import { planDot, planJson, planProduct, planText } from '../../dsl/planner';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { fileHost } from '../recipe-files';

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
    const c = compile([file as string], fileHost(io.cwd));
    if (c.diagnostics.length > 0) io.stderr.write(renderDiagnostics(c.diagnostics, c.sources));
    if (c.errorCount > 0) return EXIT.failed;
    const declaredHere = c.buildable.filter((n) => c.decls.products.get(n)?.file === c.files[c.files.length - 1]?.path);
    let product = values.product;
    if (!product) {
      if (declaredHere.length !== 1) {
        throw new UserError(
          declaredHere.length === 0 ? `${file} declares no buildable product (one with an \`output\`)` : `${file} declares ${declaredHere.length} products: choose one with --product (${declaredHere.join(', ')})`,
          EXIT.usage,
        );
      }
      product = declaredHere[0] as string;
    }
    if (!c.variants.has(product)) {
      throw new UserError(`\`${product}\` is not a buildable product of ${file}; these are: ${c.buildable.join(', ') || '(none)'}`, EXIT.usage);
    }
    let plan;
    try {
      plan = planProduct(c, product, { arches: values.arch ?? [] });
    } catch (e) {
      throw new UserError((e as Error).message, EXIT.usage);
    }
    io.stdout.write(values.json ? planJson(plan) : values.dot ? planDot(plan) : planText(plan));
    return EXIT.ok;
  },
};
