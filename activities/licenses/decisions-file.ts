// How recorded license decisions reach the license step on a build host.
//
// The decisions live in the service's database (service/api/decisions.ts), which no build
// host can open. The service therefore writes every live decision, after each change, to
// one canonical file (the same format as `sborka license decisions export`, the file a
// maintainer keeps next to the recipes), and the step reads that file from the host:
// <stateDir>/license-decisions.json, or $SBORKA_LICENSE_DECISIONS, which a build host
// points at its synced copy. The file joins the step's cache key through hostInputs (the
// digest of its live decisions), so a cached verdict is not reused once a decision that
// may apply is made, revoked or expires; and it travels no Temporal payload, so a nightly
// started from a schedule made weeks ago still sees today's decisions.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../../config/config';
import { DecisionFile, type Decision, type DecisionContext } from '../../licenses/decisions';
import { badInput } from '../failures';
import type { KindContext } from '../kinds/registry';

export const DECISIONS_FILE = 'license-decisions.json';

export function decisionsPath(configured: string | null | undefined, config: Config): string | undefined {
  if (configured === null) return undefined;
  return configured ?? process.env.SBORKA_LICENSE_DECISIONS ?? path.join(config.stateDir, DECISIONS_FILE);
}

/** The file's decisions; none when it does not exist; a broken file is the host's setup error. */
export async function readDecisions(file: string | undefined): Promise<Decision[]> {
  if (file === undefined) return [];
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badInput(`license decisions ${file}: not JSON: ${(e as Error).message}`);
  }
  const parsed = DecisionFile.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw badInput(`license decisions ${file}: ${first.path.join('.')}: ${first.message}`);
  }
  return parsed.data.decisions;
}

/** Decisions not expired on `date` (yyyy-mm-dd): the ones that can still clear a review. */
export function liveDecisions(decisions: readonly Decision[], date: string): Decision[] {
  return decisions.filter((d) => d.until === undefined || d.until >= date);
}

export function decisionsDigest(decisions: readonly Decision[]): string {
  const sorted = [...decisions].sort((a, b) => a.id.localeCompare(b.id));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/** The product (the variant id's part before .<arch>) and owner label the step runs for. */
export function decisionContext(ctx: Pick<KindContext, 'variantId' | 'owner'>, params: { arch: string }): DecisionContext {
  const at = ctx.variantId.indexOf(`.${params.arch}`);
  const product = at > 0 ? ctx.variantId.slice(0, at) : ctx.variantId;
  const o = ctx.owner;
  const owner = !o || o.kind === 'community' ? 'community' : o.kind === 'maintainer' ? `maintainer:${o.team}` : `partner:${o.name}`;
  return { product, owner };
}
