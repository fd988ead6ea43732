// `sborka promote <build-id> --channel release`: every version a build published under a
// files root is hard-linked (copied across filesystems) into <root>/<channel>/<same path>,
// gets a build.json naming the channel, a new SHA256SUMS and new signatures, and appears
// by one rename like any version. The build is recorded as promoted: retention keeps it.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { SigningConfig } from '../../publish/config-schema';
import { BUILD_JSON, META_DIR, publishVersion, readBuildRecords, type PublishedArtifact, type PublishFile } from './files-target';
import { copyHashed, sha256OfFile, writeAtomic } from './fs-util';
import { safeSegment } from '../step-log';
import { makeSigner, spawnRunner, type Runner } from './signing';

export interface PromoteOptions {
  buildId: string;
  channel: string;
  /** Files roots to look for the build in. */
  roots: readonly string[];
  signing: SigningConfig;
  run?: Runner;
  now?: Date;
}

export interface PromoteResult {
  root: string;
  variant: string;
  from: string;
  to: string;
  status: 'published' | 'unchanged';
}

const CHANNEL = /^[a-z][a-z0-9-]{0,63}$/;

export async function promoteBuild(options: PromoteOptions): Promise<PromoteResult[]> {
  if (!CHANNEL.test(options.channel)) throw new Error(`channel ${JSON.stringify(options.channel)} must be lower-case letters, digits and "-"`);
  const signer = makeSigner(options.signing, options.run ?? spawnRunner);
  const now = options.now ?? new Date();
  const results: PromoteResult[] = [];
  for (const root of options.roots) {
    const realRoot = await fs.realpath(root).catch(() => undefined);
    if (!realRoot) continue;
    const records = await readBuildRecords(realRoot, options.buildId);
    for (const rec of records) {
      if (rec.rel.split('/')[0] === options.channel) continue; // already a channel copy
      const src = path.join(realRoot, rec.rel);
      const original = JSON.parse(await fs.readFile(path.join(src, BUILD_JSON), 'utf8')) as Record<string, unknown> & { files: PublishedArtifact[] };
      const files: PublishFile[] = original.files.map((f) => ({ ...f, place: (dest) => linkOrCopy(path.join(src, f.name), dest) }));
      const { files: _dropped, ...rest } = original;
      const to = `${options.channel}/${rec.rel}`;
      const result = await publishVersion({
        root: realRoot, rel: to, versionIndex: rec.versionIndex < 0 ? -1 : rec.versionIndex + 1, files,
        buildJson: { ...rest, channel: options.channel, promotedAt: now.toISOString(), promotedFrom: rec.rel },
        ...(signer ? { signer } : {}),
        signatureComment: `sborka ${String(original.product ?? '')} ${String(original.arch ?? '')} build ${options.buildId} channel ${options.channel}`,
      });
      results.push({ root: realRoot, variant: rec.variant, from: rec.rel, to, status: result.status });
    }
    if (records.length > 0) {
      const dir = path.join(realRoot, META_DIR, 'promoted');
      await fs.mkdir(dir, { recursive: true });
      await writeAtomic(path.join(dir, `${safeSegment(options.buildId)}.json`), `${JSON.stringify({ buildId: options.buildId, channel: options.channel, promotedAt: now.toISOString() }, null, 2)}\n`);
    }
  }
  if (results.length === 0) throw new Error(`build ${options.buildId} has published nothing under ${options.roots.join(', ') || '(no files roots configured)'}`);
  return results;
}

/** A hard link shares the published file's bytes; a copy when the channel sits on another filesystem. */
async function linkOrCopy(src: string, dest: string): Promise<{ sha256: string; size: number }> {
  try {
    await fs.link(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    return copyHashed(src, dest);
  }
  const st = await fs.stat(dest);
  return { sha256: await sha256OfFile(dest), size: st.size };
}
