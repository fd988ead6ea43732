// What every route needs, made once by createApiServer.
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../../config/config';
import type { Db } from './db';
import type { RecipeStore } from './recipes';
import type { Webhooks } from './webhooks';

export interface ApiDeps {
  config: Config;
  client: Client;
  db: Db;
  logger: Logger;
  recipes: RecipeStore;
  webhooks: Webhooks;
  /** HMAC key of short-lived download links. */
  linkKey: string;
}
