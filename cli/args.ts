// Flag parsing shared by the commands: node's parseArgs, with usage errors that say which flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, UserError } from './command';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UserError(`${(e as Error).message}\nusage: ${usage}`, EXIT.usage);
  }
}

export function requirePositional(positionals: string[], count: number, usage: string): string[] {
  if (positionals.length < count) throw new UserError(`missing argument\nusage: ${usage}`, EXIT.usage);
  return positionals;
}
