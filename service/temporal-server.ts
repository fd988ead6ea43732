// The embedded Temporal server for one machine: the pinned CLI's `server start-dev` with
// a SQLite file under the state directory, loopback only, headless. Started once in the
// background and reused by every later command until `sborka server stop` or a reboot.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const SA_TYPE_NAMES: Record<string, string> = {
  KEYWORD: 'Keyword',
  KEYWORD_LIST: 'KeywordList',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
};

export interface EmbeddedPaths {
  dir: string;
  database: string;
  pidFile: string;
  logFile: string;
}

export function embeddedPaths(config: Config): EmbeddedPaths {
  const dir = path.join(config.stateDir, 'temporal');
  return {
    dir,
    database: path.join(dir, 'temporal.sqlite'),
    pidFile: path.join(dir, 'server.pid'),
    logFile: path.join(dir, 'server.log'),
  };
}

export function embeddedAddress(config: Config): string {
  return `127.0.0.1:${config.temporal.embeddedPort}`;
}

/** argv of the dev server; search attributes are registered at every start (idempotent). */
export function serverArgv(config: Config): string[] {
  const paths = embeddedPaths(config);
  return [
    config.temporal.cliPath,
    'server',
    'start-dev',
    '--headless',
    '--ip', '127.0.0.1',
    '--port', String(config.temporal.embeddedPort),
    '--db-filename', paths.database,
    '--namespace', config.temporal.namespace,
    '--log-level', 'warn',
    // WAL: commits survive a killed process (not a power cut) without an fsync per write,
    // which is what makes each step's round trip cheap on one machine.
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
    ...serverTuningArgs(),
  ];
}

/**
 * What every dev server sborka starts is given, the embedded one and the tests' alike
 * (test/helpers/temporal-env.ts): the dynamic config a build's round trips depend on, and
 * sborka's search attributes.
 */
export function serverTuningArgs(): string[] {
  return [
    // One partition per task queue: on one machine, more only adds forwarding hops.
    '--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1',
    // Each step passes the history's transfer queue twice (activity task, then the next
    // workflow task); its reader is a token bucket of 20 reads/s, so after its burst a
    // chain of steps is held to ~100 ms a step (measured: 100 ms → ~30 ms with 1000).
    '--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000',
    // A workflow task that schedules an activity on its own queue gets the activity task back
    // in its reply when the worker has a slot free (worker.ts keeps some): one pass through
    // the transfer queue and matching less per step.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    ...SEARCH_ATTRIBUTES.flatMap((sa) => ['--search-attribute', `${sa.name}=${SA_TYPE_NAMES[sa.type] ?? 'Keyword'}`]),
  ];
}

/** True when a Temporal frontend answers at the address. */
export async function serverAnswers(address: string, timeoutMs = 2000): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export async function waitUntilAnswers(address: string, deadlineMs: number, alive: () => boolean = () => true): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await serverAnswers(address, 1000)) return true;
    if (!alive()) return serverAnswers(address, 1000);
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function checkCli(config: Config): void {
  if (!fs.existsSync(config.temporal.cliPath)) {
    throw new Error(
      `the Temporal CLI is not installed at ${config.temporal.cliPath}: run scripts/setup (or set TEMPORAL_ADDRESS to use a cluster)`,
    );
  }
}

/**
 * Makes sure the embedded server runs: reuses one that answers, else starts it detached
 * (it outlives this command so running builds keep going) and waits until it answers.
 */
export async function ensureEmbeddedServer(config: Config, logger: Logger): Promise<{ address: string; started: boolean }> {
  const address = embeddedAddress(config);
  if (await serverAnswers(address)) return { address, started: false };
  checkCli(config);
  const paths = embeddedPaths(config);
  fs.mkdirSync(paths.dir, { recursive: true });
  const log = fs.openSync(paths.logFile, 'a');
  const [exe, ...args] = serverArgv(config);
  logger.info({ address, database: paths.database }, 'starting the embedded Temporal server');
  const child = spawn(exe!, args, { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  child.unref();
  if (child.pid) fs.writeFileSync(paths.pidFile, `${child.pid}\n`);
  // A concurrent command may have won the port; then its server answers and we reuse it.
  if (!(await waitUntilAnswers(address, 60_000, () => !exited))) {
    throw new Error(`the embedded Temporal server did not answer at ${address} within 60 s; see ${paths.logFile}`);
  }
  return { address, started: !exited };
}

/** `sborka server`: the dev server in the foreground, stopped with Ctrl-C. */
export async function runServerForeground(config: Config, logger: Logger): Promise<number> {
  const address = embeddedAddress(config);
  if (await serverAnswers(address)) {
    throw new Error(`a Temporal server already answers at ${address}; stop it first (sborka server stop)`);
  }
  checkCli(config);
  const paths = embeddedPaths(config);
  fs.mkdirSync(paths.dir, { recursive: true });
  const [exe, ...args] = serverArgv(config);
  logger.info({ address, database: paths.database }, 'running the embedded Temporal server in the foreground');
  const child = spawn(exe!, args, { stdio: 'inherit' });
  if (child.pid) fs.writeFileSync(paths.pidFile, `${child.pid}\n`);
  const stop = () => child.kill('SIGTERM');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ? 0 : (code ?? 0))));
}

/** Stops the background server started by ensureEmbeddedServer, if it still runs. */
export async function stopEmbeddedServer(config: Config): Promise<boolean> {
  const { pidFile } = embeddedPaths(config);
  const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : NaN);
  if (!Number.isInteger(pid) || !isAlive(pid)) return false;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(pidFile, { force: true });
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
