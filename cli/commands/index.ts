// Every `sborka` command, in the order `sborka help` lists them.
import type { Command } from '../command';
import { buildCommand, resumeCommand } from './build';
import { checkCommand } from './check';
import { diffCommand } from './diff';
import { fmtCommand } from './fmt';
import { planCommand } from './plan';
import { gcCommand } from './gc';
import { licenseCommand } from './license';
import { logsCommand } from './logs';
import { abortCommand, approveCommand, cancelCommand, retryCommand, skipCommand } from './operator';
import { scheduleCommand } from './schedule';
import { serveCommand } from './serve';
import { serverCommand } from './server';
import { statusCommand } from './status';
import { storeCommand } from './store';
import { tokenCommand } from './token';
import { workerCommand } from './worker';
import { vmRunCommand } from './vm-run';
import { promoteCommand } from './promote';

export const COMMANDS: Command[] = [
  checkCommand,
  planCommand,
  fmtCommand,
  buildCommand,
  statusCommand,
  logsCommand,
  diffCommand,
  retryCommand,
  skipCommand,
  abortCommand,
  approveCommand,
  licenseCommand,
  cancelCommand,
  resumeCommand,
  promoteCommand,
  scheduleCommand,
  gcCommand,
  storeCommand,
  workerCommand,
  serverCommand,
  serveCommand,
  tokenCommand,
  vmRunCommand,
];
