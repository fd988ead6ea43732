// A whole `sborka serve` for API tests: its own embedded Temporal (SborkaEnv), in-process
// workers on every default queue, and the API server on a free loopback port.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { openApiDb, type Db } from '../../service/api/db';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../service/api/server';
import { createToken } from '../../service/api/tokens';
import { defaultQueues, startWorkers, type WorkerSet } from '../../service/worker';
import { SborkaEnv, x86Plan } from '../helpers/sborka-env';

export const ROLES = ['admin', 'maintainer', 'community', 'partner:acme', 'partner:globex'] as const;
export type TestRole = (typeof ROLES)[number];

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export class ApiEnv {
  tokens = {} as Record<TestRole, string>;
  private constructor(readonly sborka: SborkaEnv, readonly server: ApiServer, readonly base: string, readonly workers: WorkerSet | undefined, readonly db: Db) {}

  static async start(opts: Partial<ApiServerOptions> & { workers?: boolean } = {}): Promise<ApiEnv> {
    const sborka = await SborkaEnv.start();
    const logger = pino({ level: process.env.SBORKA_TEST_LOG ?? 'silent' });
    const client = await sborka.client();
    const workers = opts.workers === false ? undefined : await startWorkers({ config: sborka.config, logger, client, queues: defaultQueues() });
    const db = openApiDb(sborka.config.stateDir);
    const server = await createApiServer({ config: sborka.config, client, logger, db, ...opts });
    const base = await server.listen(0, '127.0.0.1');
    const env = new ApiEnv(sborka, server, base, workers, db);
    for (const role of ROLES) env.tokens[role] = createToken(db, { role, name: `${role}-test`, createdBy: 'test' }).token;
    return env;
  }

  async req(method: string, url: string, opts: { as?: TestRole | null; token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Res> {
    const token = opts.token ?? (opts.as === null ? undefined : this.tokens[opts.as ?? 'admin']);
    const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers };
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(this.base + url, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  async waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
  }

  /** Polls the build until it is no longer running; returns its detail. */
  async finished(buildId: string, as: TestRole = 'admin') {
    return this.waitFor(`build ${buildId} to finish`, async () => {
      const r = await this.req('GET', `/api/builds/${buildId}`, { as });
      return r.status === 200 && r.json.product.state !== 'running' ? r.json : undefined;
    });
  }

  async stop(): Promise<void> {
    await this.server.close();
    if (this.workers) {
      this.workers.shutdown();
      await this.workers.done;
    }
    this.db.close();
    await this.sborka.stop();
  }
}

/** A core plan that writes a file, checksums it and names both as artifacts. */
export function writerPlan(product: string, owner: unknown, text = 'hello from sborka\n') {
  const script = `require('fs').writeFileSync(require('path').join(process.env.SBORKA_OUTPUT_DIR, 'hello.txt'), ${JSON.stringify(text)}); console.log('wrote hello.txt');`;
  return {
    ...x86Plan(product, [
      { id: 'write', kind: 'exec', params: { argv: [process.execPath, '-e', script] } },
      { id: 'sums', kind: 'checksum', needs: ['write'], params: {} },
    ], [
      { name: 'hello', step: 'write', path: 'hello.txt', format: 'file' },
      { name: 'sha256sums', step: 'sums', path: 'SHA256SUMS', format: 'report' },
    ]),
    owner,
  };
}

/** A core plan whose first step fails until `needed` exists: it waits for an operator. */
export function fragilePlan(product: string, owner: unknown, needed: string) {
  const script = `const fs = require('fs');
    if (!fs.existsSync(${JSON.stringify(needed)})) { console.error('input ${needed} is missing'); process.exit(1); }
    fs.copyFileSync(${JSON.stringify(needed)}, require('path').join(process.env.SBORKA_OUTPUT_DIR, 'copy.txt'));`;
  return {
    ...x86Plan(product, [
      { id: 'copy', kind: 'exec', params: { argv: [process.execPath, '-e', script] }, retry: { maximumAttempts: 1, initialIntervalMs: 100 } },
      { id: 'sums', kind: 'checksum', needs: ['copy'], params: {} },
    ], [{ name: 'copy', step: 'copy', path: 'copy.txt', format: 'file' }]),
    owner,
  };
}

/** Where tests put screenshots and other things worth looking at afterwards. */
export function outputDir(name: string): string {
  const dir = path.join(os.tmpdir(), 'sborka-test-output', name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The events of a server-sent event stream, read until `until(event, data)` says stop or the
 * stream ends; the body is cancelled either way.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads are whatever the server sent
export async function sseEvents(res: Response, until: (event: string, data: any) => boolean): Promise<Array<{ event: string; data: any }>> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const events: Array<{ event: string; data: any }> = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return events;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(chunk)?.[1];
        if (!event) continue;
        const data: unknown = JSON.parse(chunk.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'));
        events.push({ event, data });
        if (until(event, data)) return events;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
