// `sborka token create|revoke|list`: API tokens of `sborka serve`, kept (as hashes) in the
// state directory's SQLite file. The plain token is printed once, at creation.
import * as os from 'node:os';
import { parseCommandArgs, requirePositional } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { loadConfig } from '../../config/config';
import { recordAudit } from '../../service/api/audit';
import { openApiDb } from '../../service/api/db';
import { parseRole } from '../../service/api/roles';
import { createToken, listTokens, revokeToken } from '../../service/api/tokens';

const usage = 'sborka token create --role <admin|maintainer|community|partner:NAME> [--name NAME] | token revoke <id> | token list [--json]';

export const tokenCommand: Command = {
  name: 'token',
  summary: 'create, revoke and list API tokens of `sborka serve`',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { role: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean', default: false } },
      usage,
    );
    const [sub, id] = requirePositional(positionals, 1, usage);
    const db = openApiDb(loadConfig().stateDir);
    // Who ran it, for the audit log: the CLI acts with the rights of whoever owns the state directory.
    const who = `cli:${os.userInfo().username}`;
    try {
      switch (sub) {
        case 'create': {
          if (!values.role) throw new UserError(`--role is required\nusage: ${usage}`, EXIT.usage);
          const role = parseRole(values.role);
          if (!role) throw new UserError(`--role ${values.role}: must be admin, maintainer, community or partner:<name> (lower-case letters, digits, . _ + -)`, EXIT.usage);
          const { token, info } = createToken(db, { role, name: values.name, createdBy: who });
          recordAudit(db, { who, method: 'CLI', route: 'token create', url: 'token create', target: info.id, status: 0, detail: `role ${role}` });
          if (values.json) io.stdout.write(`${JSON.stringify({ ...info, token })}\n`);
          else io.stdout.write(`${token}\n`);
          io.stderr.write(`created ${info.id} (${info.name}, ${info.role}); the token above is shown only now\n`);
          return EXIT.ok;
        }
        case 'revoke': {
          if (!id) throw new UserError(`which token? usage: ${usage}`, EXIT.usage);
          const ok = revokeToken(db, id);
          recordAudit(db, { who, method: 'CLI', route: 'token revoke', url: 'token revoke', target: id, status: ok ? 0 : 1 });
          if (!ok) throw new UserError(`no live token "${id}" (sborka token list)`);
          io.stdout.write(`revoked ${id}\n`);
          return EXIT.ok;
        }
        case 'list': {
          const tokens = listTokens(db);
          if (values.json) {
            io.stdout.write(`${JSON.stringify(tokens)}\n`);
            return EXIT.ok;
          }
          for (const t of tokens) {
            const state = t.revokedAt ? `revoked ${t.revokedAt}` : t.lastUsedAt ? `last used ${t.lastUsedAt}` : 'never used';
            io.stdout.write(`${t.id}  ${t.role.padEnd(20)} ${t.name.padEnd(20)} created ${t.createdAt}  ${state}\n`);
          }
          return EXIT.ok;
        }
        default:
          throw new UserError(`unknown subcommand "${sub}"\nusage: ${usage}`, EXIT.usage);
      }
    } finally {
      db.close();
    }
  },
};
