// Where sborka keeps its state and which Temporal it talks to, read once from the
// environment. Defaults give the one-machine setup: embedded dev server, local store.
import * as path from 'node:path';
import { z } from 'zod';

const PROJECT_ROOT = path.resolve(__dirname, '..', __dirname.includes(`${path.sep}build${path.sep}`) ? '..' : '.');

export const Config = z.object({
  projectRoot: z.string(),
  /** Everything a run writes: Temporal's SQLite file, the store, logs. */
  stateDir: z.string(),
  storeDir: z.string(),
  logDir: z.string(),
  temporal: z.object({
    /** host:port; undefined means "start or reuse the embedded dev server". */
    address: z.string().optional(),
    namespace: z.string().default('default'),
    apiKey: z.string().optional(),
    tls: z
      .object({ serverRootCaPath: z.string().optional(), clientCertPath: z.string(), clientKeyPath: z.string() })
      .optional(),
    /** The pinned Temporal CLI used for the embedded server. */
    cliPath: z.string(),
    embeddedPort: z.number().int().min(1).max(65535),
    embeddedUiPort: z.number().int().min(1).max(65535),
  }),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /**
   * How a foreign-arch root comes back from its VM: `auto` reads the VM's disk through a
   * read-only loop mount where the host allows one, else the VM writes a tar; `vm` always the tar.
   */
  foreignRootCopy: z.enum(['auto', 'vm']).default('auto'),
  /**
   * The remote content-addressed store shared by every build host (an OCI registry), when
   * set; storeDir is then this worker's bounded cache in front of it. Unset: storeDir is the store.
   */
  remoteStore: z
    .object({
      /** oci://host[:port]/prefix (https) or oci+http://host[:port]/prefix (plain http: loopback, tests). */
      url: z.string().regex(/^oci(\+http)?:\/\/[^/\s]+\/[a-z0-9]+(?:[._/-][a-z0-9]+)*$/, 'must be oci://host[:port]/prefix'),
      username: z.string().optional(),
      /** Secrets are read when used, from this variable or file (as publishing does). */
      passwordEnv: z.string().optional(),
      passwordFile: z.string().optional(),
      tokenFile: z.string().optional(),
      /** The local cache's budget; least recently used entries go beyond it. */
      cacheBytes: z.number().int().min(0),
      /** Entries used more recently than this stay even over the budget (a step may be reading them). */
      cacheMinIdleMs: z.number().int().min(0),
      /** Upload chunk size for large outputs. */
      chunkBytes: z.number().int().min(1 << 20),
    })
    .optional(),
});
export type Config = z.infer<typeof Config>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const stateDir = path.resolve(env.SBORKA_STATE_DIR ?? path.join(PROJECT_ROOT, '.state'));
  const tlsCert = env.TEMPORAL_TLS_CERT;
  const tlsKey = env.TEMPORAL_TLS_KEY;
  return Config.parse({
    projectRoot: PROJECT_ROOT,
    stateDir,
    storeDir: path.resolve(env.SBORKA_STORE_DIR ?? path.join(stateDir, 'store')),
    logDir: path.resolve(env.SBORKA_LOG_DIR ?? path.join(stateDir, 'logs')),
    temporal: {
      address: env.TEMPORAL_ADDRESS || undefined,
      namespace: env.TEMPORAL_NAMESPACE || 'default',
      apiKey: env.TEMPORAL_API_KEY || undefined,
      tls:
        tlsCert && tlsKey
          ? { serverRootCaPath: env.TEMPORAL_TLS_CA || undefined, clientCertPath: tlsCert, clientKeyPath: tlsKey }
          : undefined,
      cliPath: env.SBORKA_TEMPORAL_CLI ?? path.join(PROJECT_ROOT, '.tools', 'temporal', 'bin', 'temporal'),
      embeddedPort: Number(env.SBORKA_TEMPORAL_PORT ?? 7233),
      embeddedUiPort: Number(env.SBORKA_TEMPORAL_UI_PORT ?? 8233),
    },
    logLevel: env.SBORKA_LOG_LEVEL ?? 'info',
    foreignRootCopy: env.SBORKA_FOREIGN_ROOT_COPY || 'auto',
    remoteStore: env.SBORKA_STORE_URL
      ? {
          url: env.SBORKA_STORE_URL,
          username: env.SBORKA_STORE_USER || undefined,
          passwordEnv: env.SBORKA_STORE_PASSWORD ? 'SBORKA_STORE_PASSWORD' : undefined,
          passwordFile: env.SBORKA_STORE_PASSWORD_FILE || undefined,
          tokenFile: env.SBORKA_STORE_TOKEN_FILE || undefined,
          cacheBytes: Number(env.SBORKA_STORE_CACHE_BYTES ?? 50 * 2 ** 30),
          cacheMinIdleMs: Number(env.SBORKA_STORE_CACHE_MIN_IDLE_MS ?? 10 * 60_000),
          chunkBytes: Number(env.SBORKA_STORE_CHUNK_BYTES ?? 64 * 2 ** 20),
        }
      : undefined,
  });
}
