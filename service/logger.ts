// Structured logs (pino). Long-running processes (worker, server) log JSON to stderr;
// interactive commands keep the terminal for the progress view and log to a file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/config';

export type { Logger };

export function createLogger(config: Config, name: string, to: 'stderr' | 'file' = 'stderr'): Logger {
  const options = { name, level: config.logLevel, base: { pid: process.pid } };
  if (to === 'stderr') return pino(options, pino.destination({ fd: 2, sync: true }));
  fs.mkdirSync(config.logDir, { recursive: true });
  return pino(options, pino.destination({ dest: path.join(config.logDir, `${name}.log`), sync: true, mkdir: true }));
}
