// Every `sborka` command, in the order `sborka help` lists them.
import type { Command } from '../command';
import { buildCommand, resumeCommand } from './build';
import { checkCommand } from './check';
import { fmtCommand } from './fmt';
import { planCommand } from './plan';
import { gcCommand } from './gc';
import { logsCommand } from './logs';
import { abortCommand, cancelCommand, retryCommand, skipCommand } from './operator';
import { scheduleCommand } from './schedule';
import { serverCommand } from './server';
import { statusCommand } from './status';
import { workerCommand } from './worker';

export const COMMANDS: Command[] = [
  checkCommand,
  planCommand,
  fmtCommand,
  buildCommand,
  statusCommand,
  logsCommand,
  retryCommand,
  skipCommand,
  abortCommand,
  cancelCommand,
  resumeCommand,
  scheduleCommand,
  gcCommand,
  workerCommand,
  serverCommand,
];
