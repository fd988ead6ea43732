// `sborka license decisions list|export|import|revoke`: the license decisions of `sborka
// serve`, in the state directory's SQLite file (service/api/decisions.ts). The CLI acts with
// the rights of whoever owns the state directory (as `sborka token` does): every scope.
// Each change rewrites the decisions file the license step reads.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { loadConfig } from '../../config/config';
import { scopeLabel } from '../../licenses/decisions';
import { openApiDb } from '../../service/api/db';
import { DecisionError, exportDecisions, importDecisions, listDecisions, parseDecisionFile, revokeDecision, type Actor } from '../../service/api/decisions';

const usage = 'sborka license decisions list [--package NAME] [--revoked] [--json] | export [--output FILE] | import FILE | revoke ID';

export const licenseCommand: Command = {
  name: 'license',
  summary: 'list, export, import and revoke recorded license decisions',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { package: { type: 'string' }, revoked: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, output: { type: 'string' } },
      usage,
    );
    const [group, sub, arg] = requirePositional(positionals, 2, usage);
    if (group !== 'decisions') throw new UserError(`unknown subcommand "${group}"\nusage: ${usage}`, EXIT.usage);
    const { stateDir } = loadConfig();
    const db = openApiDb(stateDir);
    const actor: Actor = { name: `cli:${os.userInfo().username}`, role: 'admin' };
    try {
      switch (sub) {
        case 'list': {
          const list = listDecisions(db, actor.role, { ...(values.package ? { package: values.package } : {}), revoked: values.revoked });
          if (values.json) io.stdout.write(`${JSON.stringify(list)}\n`);
          for (const d of values.json ? [] : list) {
            const state = d.revokedAt ? `revoked ${d.revokedAt.slice(0, 10)} by ${d.revokedBy}` : d.until ? `until ${d.until}` : 'no expiry';
            io.stdout.write(`${d.id}  ${d.package} ${d.versions}  ${d.expression}  [${scopeLabel(d.scope)}]  cleared by ${d.by} on ${d.at.slice(0, 10)}: ${d.reason} (${state})\n`);
          }
          return EXIT.ok;
        }
        case 'export': {
          const text = `${JSON.stringify(exportDecisions(db, actor.role), null, 2)}\n`;
          if (values.output) fs.writeFileSync(path.resolve(io.cwd, values.output), text);
          else io.stdout.write(text);
          return EXIT.ok;
        }
        case 'import': {
          if (!arg) throw new UserError(`which file? usage: ${usage}`, EXIT.usage);
          const file = path.resolve(io.cwd, arg);
          if (!fs.existsSync(file)) throw new UserError(`${arg}: no such file`, EXIT.usage);
          const r = importDecisions(db, actor, parseDecisionFile(fs.readFileSync(file, 'utf8'), arg), stateDir);
          io.stdout.write(`imported ${arg}: ${r.recorded} recorded, ${r.unchanged} unchanged\n`);
          return EXIT.ok;
        }
        case 'revoke': {
          if (!arg) throw new UserError(`which decision? usage: ${usage}`, EXIT.usage);
          const d = revokeDecision(db, actor, arg, stateDir);
          io.stdout.write(`revoked ${d.id} (${d.package}, ${scopeLabel(d.scope)})\n`);
          return EXIT.ok;
        }
        default:
          throw new UserError(`unknown subcommand "decisions ${sub}"\nusage: ${usage}`, EXIT.usage);
      }
    } catch (e) {
      if (e instanceof DecisionError) throw new UserError(e.message, e.status === 400 ? EXIT.usage : EXIT.failed);
      throw e;
    } finally {
      db.close();
    }
  },
};
