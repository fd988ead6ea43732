import { compile } from '../../dsl/compile';
import { capDiagnostics, renderDiagnostics } from '../../dsl/diagnostics';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { expandRecipeArgs, fileHost } from '../recipe-files';

const usage = 'sborka check [--format text|json] <files or directories...>';

export const checkCommand: Command = {
  name: 'check',
  summary: 'check recipes and report every problem with file:line:col',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { format: { type: 'string', default: 'text' } }, usage);
    if (values.format !== 'text' && values.format !== 'json') throw new UserError(`--format takes text or json, not "${values.format}"\nusage: ${usage}`, EXIT.usage);
    const files = expandRecipeArgs(requirePositional(positionals, 1, usage), io.cwd);
    const c = compile(files, fileHost(io.cwd));
    if (values.format === 'json') {
      // Capped as the text is; the counts stay whole, `omittedDiagnostics` says how many are not listed.
      const { shown, omitted } = capDiagnostics(c.diagnostics);
      const report = { files: c.files.map((f) => f.path), products: c.buildable, errors: c.errorCount, warnings: c.diagnostics.length - c.errorCount, diagnostics: shown, omittedDiagnostics: omitted };
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else if (c.diagnostics.length > 0) {
      io.stderr.write(renderDiagnostics(c.diagnostics, c.sources));
    }
    if (values.format === 'text' && c.errorCount === 0) {
      io.stdout.write(`ok: ${c.files.length} file${c.files.length === 1 ? '' : 's'}, ${c.buildable.length} buildable product${c.buildable.length === 1 ? '' : 's'}\n`);
    }
    return c.errorCount > 0 ? EXIT.failed : EXIT.ok;
  },
};
