// Connections to Temporal: the embedded dev server by default, any cluster when
// TEMPORAL_ADDRESS (with namespace, TLS or API key) is set.
import * as fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { ensureEmbeddedServer } from './temporal-server';

function tlsOptions(config: Config) {
  const tls = config.temporal.tls;
  if (!tls) return config.temporal.apiKey ? true : undefined;
  return {
    serverRootCACertificate: tls.serverRootCaPath ? fs.readFileSync(tls.serverRootCaPath) : undefined,
    clientCertPair: { crt: fs.readFileSync(tls.clientCertPath), key: fs.readFileSync(tls.clientKeyPath) },
  };
}

/** The address to use, starting the embedded server first when no cluster is configured. */
export async function resolveAddress(config: Config, logger: Logger): Promise<string> {
  if (config.temporal.address) return config.temporal.address;
  return (await ensureEmbeddedServer(config, logger)).address;
}

export async function connectClient(config: Config, logger: Logger): Promise<Client> {
  const address = await resolveAddress(config, logger);
  const connection = await Connection.connect({ address, tls: tlsOptions(config), apiKey: config.temporal.apiKey });
  return new Client({ connection, namespace: config.temporal.namespace });
}

export async function connectWorker(config: Config, logger: Logger): Promise<NativeConnection> {
  const address = await resolveAddress(config, logger);
  return NativeConnection.connect({ address, tls: tlsOptions(config), apiKey: config.temporal.apiKey });
}
