// The workflow code bundle, kept on disk between processes: webpack takes seconds, and every
// `sborka build` needs the bundle before its workers start. It depends on the code alone, so
// it is kept with the installation (not a state directory): only the first process after a
// change of the code bundles. Next to it is what webpack read (every file's digest: about a
// megabyte, hashed in milliseconds, and unlike mtimes unmoved by a recompile that changed
// nothing) and the paths it looked for and did not find, so a changed file, a new one where
// webpack looked, or another SDK version bundles again.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { bundleWorkflowCode, type BundleOptions, type WorkflowBundle } from '@temporalio/worker';
import { version as SDK_VERSION } from '@temporalio/worker/package.json';
import type { Logger } from 'pino';
import { z } from 'zod';

type WebpackConfig = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];
type WebpackPlugin = NonNullable<WebpackConfig['plugins']>[number];

const BundleManifest = z.object({
  sdk: z.string(),
  workflowsPath: z.string(),
  codeSha256: z.string(),
  /** Absolute path → sha256 of every file webpack read. */
  files: z.record(z.string(), z.string()),
  /** Paths webpack probed that did not exist: one appearing may change what it resolves. */
  missing: z.array(z.string()),
});
type BundleManifest = z.infer<typeof BundleManifest>;

/**
 * The bundle of workflowsPath from under cacheRoot when nothing it was made from changed,
 * else bundled (and kept there when cacheRoot is writable).
 */
export async function cachedWorkflowBundle(workflowsPath: string, cacheRoot: string, logger: Logger): Promise<WorkflowBundle> {
  const cacheDir = path.join(cacheRoot, sha256(workflowsPath).slice(0, 16));
  const codeFile = path.join(cacheDir, 'workflows.js');
  const manifestFile = path.join(cacheDir, 'manifest.json');
  const cached = await readValid(workflowsPath, codeFile, manifestFile).catch((err: Error) => {
    logger.warn({ err: err.message, cacheDir }, 'workflow bundle cache unreadable; bundling');
    return undefined;
  });
  if (cached) {
    logger.debug({ cacheDir }, 'workflow bundle from the cache');
    return { code: cached };
  }
  const started = Date.now();
  let read: { files: string[]; missing: string[] } | undefined;
  const recorder: WebpackPlugin = {
    apply(compiler) {
      compiler.hooks.done.tap('sborka-bundle-inputs', ({ compilation }) => {
        read = { files: [...compilation.fileDependencies], missing: [...compilation.missingDependencies] };
      });
    },
  };
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    logger: quietBundlerLogger,
    webpackConfigHook: (config) => ({ ...config, plugins: [...(config.plugins ?? []), recorder] }),
  });
  if (read) {
    const manifest = { sdk: SDK_VERSION, workflowsPath, codeSha256: sha256(code), files: await digests(read.files), missing: read.missing.sort() };
    await write(codeFile, manifestFile, code, manifest).catch((err: Error) => logger.warn({ err: err.message, cacheDir }, 'workflow bundle not cached'));
  }
  logger.info({ ms: Date.now() - started, cacheDir }, 'workflow code bundled');
  return { code };
}

async function readValid(workflowsPath: string, codeFile: string, manifestFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fs.readFile(manifestFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const manifest = BundleManifest.parse(JSON.parse(text));
  if (manifest.sdk !== SDK_VERSION || manifest.workflowsPath !== workflowsPath) return undefined;
  const code = await fs.readFile(codeFile, 'utf8').catch(() => undefined);
  // Another process may have replaced one of the two files meanwhile: they must still match.
  if (code === undefined || sha256(code) !== manifest.codeSha256) return undefined;
  const now = await digests(Object.keys(manifest.files));
  if (Object.entries(manifest.files).some(([f, d]) => now[f] !== d)) return undefined;
  const appeared = await Promise.all(manifest.missing.map((p) => fs.access(p).then(() => true, () => false)));
  return appeared.includes(true) ? undefined : code;
}

/** Each regular file's sha256 (webpack lists the directories it resolved through too). */
async function digests(paths: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of paths) {
    const content = await fs.readFile(p).catch(() => undefined); // a directory, or gone
    if (content) out[p] = sha256(content);
  }
  return out;
}

async function write(codeFile: string, manifestFile: string, code: string, manifest: BundleManifest): Promise<void> {
  await fs.mkdir(path.dirname(codeFile), { recursive: true });
  for (const [file, text] of [[codeFile, code], [manifestFile, JSON.stringify(manifest)]] as const) {
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
  }
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

const quietBundlerLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (m: string) => process.stderr.write(`bundler: ${m}\n`),
  error: (m: string) => process.stderr.write(`bundler: ${m}\n`),
};
