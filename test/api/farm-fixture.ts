// A farm on one machine for the API tests: "host A" runs the build-x86_64 worker, "host B" the
// control worker and the API, and any further hosts are only configurations (a CLI elsewhere).
// Each has its own state, store cache and log directory; nothing is shared but the embedded
// Temporal server and the remote store, a real docker-registry on 127.0.0.1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import pino, { type Logger } from 'pino';
import { logsShipped } from '../../activities/log-ship';
import { closeLogStores } from '../../activities/log-store';
import { loadConfig, type Config } from '../../config/config';
import { openApiDb, type Db } from '../../service/api/db';
import { createApiServer, type ApiServer } from '../../service/api/server';
import type { Role } from '../../service/api/roles';
import { createToken } from '../../service/api/tokens';
import { startWorkers, type WorkerSet } from '../../service/worker';
import { SborkaEnv } from '../helpers/sborka-env';
import { startRegistry, type Registry } from '../publish/helpers';

export interface Farm {
  regDir: string;
  registry: Registry;
  sborka: SborkaEnv;
  client: Client;
  hosts: Config[];
  db: Db;
  base: string;
  tokens: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are whatever the API sent
  req(url: string, as: string, method?: string, body?: unknown): Promise<{ status: number; headers: Headers; bytes: Buffer; text: string; json: any }>;
  stop(): Promise<void>;
}

export async function startFarm(name: string, o: { hosts: number; roles: readonly Role[]; apiLogger?: Logger }): Promise<Farm> {
  const regDir = fs.mkdtempSync(`/tmp/${name}-reg-`);
  const registry = await startRegistry(regDir, { builder: 'secret-pw' });
  const sborka = await SborkaEnv.start();
  const client = await sborka.client();
  const pw = path.join(sborka.stateDir, 'store-password');
  fs.writeFileSync(pw, 'secret-pw\n');
  const hosts = Array.from({ length: o.hosts }, (_, i) => loadConfig({
    ...sborka.env, TEMPORAL_ADDRESS: sborka.address, SBORKA_STATE_DIR: path.join(sborka.stateDir, `host-${String.fromCharCode(97 + i)}`),
    SBORKA_STORE_URL: `oci+http://${registry.host}/${name}`, SBORKA_STORE_USER: 'builder', SBORKA_STORE_PASSWORD_FILE: pw,
  }));
  const [a, b] = hosts as [Config, Config];
  const quiet = pino({ level: process.env.SBORKA_TEST_LOG ?? 'silent' });
  const workers: WorkerSet[] = [
    await startWorkers({ config: a, logger: quiet, client, queues: ['build-x86_64'] }),
    await startWorkers({ config: b, logger: quiet, client, queues: ['sborka'] }),
  ];
  const db = openApiDb(b.stateDir);
  const server: ApiServer = await createApiServer({ config: b, client, logger: o.apiLogger ?? quiet, db, rateLimit: { perSecond: 1000, burst: 1000 }, dispatchWebhooks: false });
  const base = await server.listen(0, '127.0.0.1');
  const tokens: Record<string, string> = {};
  for (const role of o.roles) tokens[role] = createToken(db, { role, name: `${role}-test`, createdBy: 'test' }).token;
  return {
    regDir, registry, sborka, client, hosts, db, base, tokens,
    async req(url, as, method = 'GET', body) {
      const res = await fetch(base + url, {
        method, headers: { authorization: `Bearer ${tokens[as]}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const bytes = Buffer.from(await res.arrayBuffer());
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString());
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, bytes, text: bytes.toString(), json };
    },
    async stop() {
      await server.close();
      for (const w of workers) w.shutdown();
      await Promise.all(workers.map((w) => w.done));
      db.close();
      await logsShipped();
      await closeLogStores();
      await sborka.stop();
      await registry.stop();
      fs.rmSync(regDir, { recursive: true, force: true });
    },
  };
}
