import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderDiagnostics } from '../../dsl/diagnostics';
import { formatRecipe } from '../../dsl/format';
import { SourceFile } from '../../dsl/source';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { expandRecipeArgs } from '../recipe-files';

const usage = 'sborka fmt [--check] <files or directories...>';

export const fmtCommand: Command = {
  name: 'fmt',
  summary: 'rewrite recipes in the canonical layout (--check: only report which differ)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { check: { type: 'boolean' } }, usage);
    const files = expandRecipeArgs(requirePositional(positionals, 1, usage), io.cwd);
    let failed = false;
    for (const f of files) {
      const abs = resolve(io.cwd, f);
      let text: string;
      try {
        text = readFileSync(abs, 'utf8');
      } catch (e) {
        throw new UserError(`cannot read ${f}: ${(e as Error).message}`, EXIT.failed);
      }
      const r = formatRecipe(f, text);
      if (r.text === undefined) {
        io.stderr.write(renderDiagnostics(r.diagnostics, new Map([[f, new SourceFile(f, text)]])));
        failed = true;
        continue;
      }
      if (r.text === text) continue;
      if (values.check) {
        io.stdout.write(`${f}: not formatted\n`);
        failed = true;
        continue;
      }
      // Replace atomically: an interrupted fmt never leaves half a recipe.
      const tmp = `${abs}.fmt-${process.pid}`;
      writeFileSync(tmp, r.text);
      renameSync(tmp, abs);
      io.stdout.write(`${f}: formatted\n`);
    }
    return failed ? EXIT.failed : EXIT.ok;
  },
};
