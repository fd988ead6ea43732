// What the benches that time whole `sborka` commands share: the compiled CLI, a timed child
// process with its output kept for the error, and the environment of a cold build in its own
// state directory on its own embedded server.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(PROJECT_ROOT, 'build', 'cli', 'sborka.js');

export interface Timed {
  ms: number;
  code: number;
  output: string;
}

export function timed(argv: string[], env: NodeJS.ProcessEnv, cwd = PROJECT_ROOT): Promise<Timed> {
  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) =>
    child.on('close', (code) => resolve({ ms: Number((process.hrtime.bigint() - started) / 1_000_000n), code: code ?? -1, output })),
  );
}

export function must(what: string, run: Timed): Timed {
  if (run.code !== 0) throw new Error(`${what} failed (exit ${run.code}):\n${run.output.split('\n').slice(-30).join('\n')}`);
  return run;
}

export const seconds = (ms: number) => Math.round(ms / 100) / 10;

/**
 * A cold build's environment: its own state directory, its own embedded server on `port` and
 * `port + 1` (SBORKA_BENCH_PORT / SBORKA_BENCH_UI_PORT move them), never a cluster, no shared
 * .deb cache.
 */
export function coldBuildEnv(stateDir: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SBORKA_STATE_DIR: stateDir,
    SBORKA_TEMPORAL_PORT: process.env.SBORKA_BENCH_PORT ?? String(port),
    SBORKA_TEMPORAL_UI_PORT: process.env.SBORKA_BENCH_UI_PORT ?? String(port + 1),
    SBORKA_LOG_LEVEL: 'warn',
    TEMPORAL_ADDRESS: '',
  };
  delete env.SBORKA_DEBIAN_CACHE_DIR;
  return env;
}
