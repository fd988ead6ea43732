// One small file of a step's store entry, read on any host: through this host's store
// directory, which with a remote store is the cache in front of it (a missing entry is
// pulled, every file checked on the way), never from the path a status names (that path is
// on whichever worker ran the step). The bytes are bounded and checked against the sha256
// the entry's manifest lists, so a file that went bad on this disk is never used.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { StepStore } from '../activities/store';
import { openStepStore } from '../activities/store-remote';
import type { Config } from '../config/config';
import type { Owner } from '../plan/plan';

/** Where a step's entry is: its store key and the build's owner (a partner's build reads its namespace, then the shared one). */
export interface StepRef {
  key: string;
  owner?: Owner;
}

/** The store a host reads steps' files through: the configured one (remote behind it), or a bare directory. */
export function storeOf(source: { config: Config; logger?: Logger } | { storeDir: string }): StepStore {
  return 'config' in source ? openStepStore(source.config, source.logger) : new StepStore(source.storeDir);
}

/**
 * The file's bytes, or undefined when no sound entry holds it. Throws when the entry lists
 * it but the bytes on this host differ (size or sha256) or exceed `maxBytes`.
 */
/** What a host reads whole into memory from a step's entry (a report, a lock): not an image. */
export const MAX_STEP_FILE_BYTES = 64 << 20;

export async function readStepFile(store: StepStore, ref: StepRef, file: string, maxBytes = MAX_STEP_FILE_BYTES): Promise<Buffer | undefined> {
  const view = ref.owner?.kind === 'partner' ? store.forTenant(ref.owner.name) : store;
  const entry = await view.lookup(ref.key, { touch: false });
  const listed = entry?.manifest.outputs.files.find((f) => f.path === file);
  if (!entry || !listed) return undefined;
  if (listed.size > maxBytes) throw new Error(`${file} of store entry ${ref.key}: ${listed.size} bytes, more than the ${maxBytes} read here`);
  // O_NOFOLLOW: a symlink put in place of the file is refused, not followed out of the store.
  const handle = await fs.open(path.join(entry.outputsDir, file), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let bytes: Buffer;
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size !== listed.size) throw new Error(`${file} of store entry ${ref.key}: ${st.size} bytes here, the entry lists ${listed.size}`);
    bytes = Buffer.alloc(listed.size);
    const { bytesRead } = await handle.read(bytes, 0, listed.size, 0);
    if (bytesRead !== listed.size) throw new Error(`${file} of store entry ${ref.key}: read ${bytesRead} of ${listed.size} bytes`);
  } finally {
    await handle.close();
  }
  const got = createHash('sha256').update(bytes).digest('hex');
  if (got !== listed.sha256) throw new Error(`${file} of store entry ${ref.key}: sha256 ${got}, the entry lists ${listed.sha256}; not used`);
  return bytes;
}
