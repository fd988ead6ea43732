// What every command needs, made on first use: configuration, a logger, a Temporal client.
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../config/config';
import { createLogger, type Logger } from '../service/logger';
import { connectClient } from '../service/temporal-connection';

export class CliContext {
  readonly config: Config = loadConfig();
  private clientPromise?: Promise<Client>;
  private loggers = new Map<string, Logger>();

  /** Interactive commands log to a file so the terminal stays readable. */
  logger(name = 'cli', to: 'stderr' | 'file' = 'file'): Logger {
    const key = `${name}:${to}`;
    let logger = this.loggers.get(key);
    if (!logger) this.loggers.set(key, (logger = createLogger(this.config, name, to)));
    return logger;
  }

  client(): Promise<Client> {
    this.clientPromise ??= connectClient(this.config, this.logger());
    return this.clientPromise;
  }

  async close(): Promise<void> {
    if (this.clientPromise) await (await this.clientPromise.catch(() => undefined))?.connection.close();
  }
}
