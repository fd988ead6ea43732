// A whole sborka installation for one test file: its own state directory, its own embedded
// Temporal server on a free port (the real pinned CLI), and the compiled `sborka` command
// run as a child process, exactly as a person runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { loadConfig, type Config } from '../../config/config';
import { embeddedAddress, embeddedPaths, ensureEmbeddedServer, stopEmbeddedServer } from '../../service/temporal-server';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(PROJECT_ROOT, 'build', 'cli', 'sborka.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export class SborkaEnv {
  private children = new Set<ChildProcess>();
  private clientPromise?: Promise<Client>;

  private constructor(readonly stateDir: string, readonly env: NodeJS.ProcessEnv, readonly config: Config) {}

  static async start(): Promise<SborkaEnv> {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run scripts/setup (it compiles the project) first`);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-test-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SBORKA_STATE_DIR: stateDir,
      SBORKA_TEMPORAL_PORT: String(await freePort()),
      SBORKA_LOG_LEVEL: 'info',
    };
    delete env.TEMPORAL_ADDRESS;
    const sborka = new SborkaEnv(stateDir, env, loadConfig(env));
    await sborka.startServer();
    return sborka;
  }

  get address(): string {
    return embeddedAddress(this.config);
  }

  startServer(): Promise<{ started: boolean }> {
    return ensureEmbeddedServer(this.config, pino({ level: 'silent' }));
  }

  /** The server's pid, as the launcher recorded it. */
  serverPid(): number {
    return Number(fs.readFileSync(embeddedPaths(this.config).pidFile, 'utf8').trim());
  }

  client(): Promise<Client> {
    this.clientPromise ??= Connection.connect({ address: this.address }).then(
      (connection) => new Client({ connection, namespace: this.config.temporal.namespace }),
    );
    return this.clientPromise;
  }

  /** Runs `sborka args...` to completion. */
  run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliRun> {
    const child = this.spawn(args, extraEnv);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  }

  /** Starts `sborka args...` (a worker, a following build) and leaves it running. */
  spawn(args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...this.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  async stop(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    if (this.clientPromise) await (await this.clientPromise).connection.close();
    await stopEmbeddedServer(this.config);
    // SBORKA_TEST_KEEP_STATE=1 keeps the store and the step logs of a failed run for a closer look.
    if (process.env.SBORKA_TEST_KEEP_STATE === '1') console.log(`state kept: ${this.stateDir}`);
    else fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Polls `probe` until it returns a value other than undefined. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

export function writePlan(dir: string, name: string, plan: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(plan, null, 2));
  return file;
}

/** A core-toolchain plan with one x86_64 variant: what the engine tests build. */
export function x86Plan(product: string, steps: unknown[], artifacts: unknown[] = []) {
  return {
    version: 1,
    product,
    toolchain: { name: 'core', version: '1' },
    variants: [{ id: `${product}-x86_64`, product, arch: 'x86_64', taskQueue: 'build-x86_64', steps, artifacts }],
  };
}
