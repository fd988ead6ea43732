// Where the publishing configuration comes from: $SBORKA_PUBLISH_CONFIG (a JSON file), else
// <stateDir>/publish.json when it exists, else defaults (no roots, no registries, no key).
// Secrets are read when used, from the environment or a file, so they never sit in a plan.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { PublishConfig, type RegistryConfig } from '../../publish/config-schema';

export async function loadPublishConfig(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<PublishConfig> {
  const explicit = env.SBORKA_PUBLISH_CONFIG;
  const file = explicit ? path.resolve(explicit) : path.join(stateDir, 'publish.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return PublishConfig.parse({});
    throw new Error(`publishing configuration ${file}: ${(err as Error).message}`);
  }
  const parsed = PublishConfig.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`publishing configuration ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export interface RegistryCredentials {
  username?: string;
  password?: string;
  token?: string;
}

/** The registry's secrets, read now; a named but missing variable or file is an error, not "anonymous". */
export async function registryCredentials(registry: RegistryConfig, env: NodeJS.ProcessEnv = process.env): Promise<RegistryCredentials> {
  const secret = async (envName: string | undefined, file: string | undefined, what: string): Promise<string | undefined> => {
    if (envName !== undefined) {
      const v = env[envName];
      if (v === undefined || v === '') throw new Error(`registry ${registry.host}: ${what} variable ${envName} is not set`);
      return v;
    }
    if (file !== undefined) {
      try {
        return (await fs.readFile(file, 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        throw new Error(`registry ${registry.host}: cannot read ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    return undefined;
  };
  const password = await secret(registry.passwordEnv, registry.passwordFile, 'password');
  const token = await secret(registry.tokenEnv, registry.tokenFile, 'token');
  return { ...(registry.username ? { username: registry.username } : {}), ...(password ? { password } : {}), ...(token ? { token } : {}) };
}
