// How long a killed worker's step waits before it runs again, printed as JSON: a build's
// step runs a real child process in a worker process; the worker is killed with SIGKILL
// mid-step and a new worker process is started on the same host at once. Measured: from
// the kill to the retried attempt's start (its ledger line), with the takeover
// (activities/takeover.ts) and, as the baseline, the same new worker started with
// --no-takeover, which leaves the attempt to the plan's heartbeat timeout (30 s now; the
// planner used 300 s before). Target: under 30 s with the takeover.
// Run: npx tsc -p . && node build/bench/takeover.js
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { readLedgerLines } from '../activities/ledger';
import { loadConfig, type Config } from '../config/config';
import { parsePlan } from '../plan/plan';
import { buildResult, startBuild } from '../service/builds';
import { connectClient } from '../service/temporal-connection';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../service/temporal-server';

const CLI = path.resolve(__dirname, '..', 'cli', 'sborka.js');
const HEARTBEAT_MS = 30_000;

function worker(env: NodeJS.ProcessEnv, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', '--queue', 'sborka,build-x86_64', ...extra], { env, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One kill and recovery; returns ms from the kill to the retry's start and to the new worker polling. */
async function run(config: Config, env: NodeJS.ProcessEnv, name: string, takeover: boolean): Promise<{ killToRetryMs: number; killToPollingMs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sborka-bench-takeover-${name}-`));
  const client = await connectClient(config, pino({ level: 'warn' }));
  const children: ChildProcess[] = [];
  try {
    const started = path.join(dir, 'started');
    const go = path.join(dir, 'go');
    const script = `require('fs').appendFileSync(${JSON.stringify(started)}, process.pid + '\\n');
      const wait = () => require('fs').existsSync(${JSON.stringify(go)})
        ? require('fs').writeFileSync(require('path').join(process.env.SBORKA_OUTPUT_DIR, 'out'), ${JSON.stringify(dir)}) : setTimeout(wait, 100);
      wait();`;
    const plan = parsePlan({
      version: 1, product: `bench-takeover-${name}`, toolchain: { name: 'core', version: '1' },
      variants: [{
        id: 'v', product: `bench-takeover-${name}`, arch: 'x86_64', taskQueue: 'build-x86_64',
        steps: [{ id: 'slow', kind: 'exec', params: { argv: [process.execPath, '-e', script] }, retry: { maximumAttempts: 5, initialIntervalMs: 1000 }, timeouts: { startToCloseMs: 600_000, heartbeatMs: HEARTBEAT_MS } }],
      }],
    });
    const first = worker(env);
    children.push(first);
    const handle = await startBuild(client, plan);
    const orphan = await until(() => (fs.existsSync(started) ? Number(fs.readFileSync(started, 'utf8').trim()) : undefined));

    const killedAt = Date.now();
    first.kill('SIGKILL');
    const second = worker(env, takeover ? [] : ['--no-takeover']);
    children.push(second);
    let pollingAt = 0;
    second.stderr!.on('data', (d: Buffer) => {
      if (!pollingAt && d.toString().includes('worker: polling')) pollingAt = Date.now();
    });
    const retryAt = await until(async () => {
      const lines = await readLedgerLines(config.storeDir);
      const retry = lines.find((l) => l.buildId === handle.workflowId && l.state === 'started' && l.attempt > 1);
      return retry ? Date.parse(retry.startedAt) : undefined;
    });
    // Without the takeover the leftover process still runs; end it so both runs finish alike.
    if (!takeover) {
      try {
        process.kill(-orphan, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    fs.writeFileSync(go, '');
    const result = await buildResult(client, handle.workflowId);
    if (result.state !== 'succeeded') throw new Error(`${name}: the build ended ${result.state}`);
    return { killToRetryMs: retryAt - killedAt, killToPollingMs: pollingAt ? pollingAt - killedAt : -1 };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await client.connection.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-bench-takeover-'));
  const env: NodeJS.ProcessEnv = { ...process.env, SBORKA_STATE_DIR: stateDir, SBORKA_TEMPORAL_PORT: process.env.SBORKA_BENCH_PORT ?? '17301', SBORKA_LOG_LEVEL: 'warn' };
  delete env.TEMPORAL_ADDRESS;
  const config = loadConfig(env);
  try {
    await ensureEmbeddedServer(config, pino({ level: 'warn' }));
    const withTakeover = await run(config, env, 'takeover', true);
    const baseline = await run(config, env, 'timeout', false);
    process.stdout.write(`${JSON.stringify({
      bench: 'takeover',
      machine: { cpus: os.cpus().length, node: process.version },
      what: 'ms from kill -9 of the worker mid-step to the retried attempt starting, a new worker started at once',
      takeover: withTakeover,
      baseline: { ...baseline, how: `the same new worker with --no-takeover: the step waits for its heartbeat timeout (${HEARTBEAT_MS} ms; 300000 ms in plans before)` },
      speedup: Math.round((baseline.killToRetryMs / withTakeover.killToRetryMs) * 10) / 10,
      targetMs: 30_000,
    }, null, 2)}\n`);
  } finally {
    await stopEmbeddedServer(config);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench/takeover: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
