// What the alt steps hand each other. The plan's build and test steps only see the
// steps they need directly (configure, build), so each alt step copies the context, the
// lock and the partner RPMs forward into its own outputs.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { Repo } from '../../plan/model';
import type { StoreEntry } from '../store';
import { badInput } from '../failures';
import { Lock } from './rpm-list';
import type { FragmentParts } from './image-line';
import { FEATURE_DIR } from './feature';

export const CONTEXT_FILE = 'alt-context.json';
export const LOCK_FILE = 'packages.lock.json';
/** hasher's repo layout: <dir>/<arch>/RPMS.hasher/*.rpm, usable as `rpm-dir file:<dir> <arch> hasher`. */
export const PARTNER_REPO = 'partner-rpms';

export const AltContext = z.object({
  branch: z.string(),
  arch: z.string(),
  repos: z.array(Repo).default([]),
  /** Set by configure: what the image's target adds to the recipe's profile. */
  mkimage: z.object({
    deps: z.array(z.string()),
    calls: z.array(z.object({ fn: z.enum(['add', 'set']), name: z.string(), value: z.string() })),
  }).optional(),
  /** Recipe settings the alt toolchain does not apply yet (reported, never silently dropped). */
  unapplied: z.array(z.string()).default([]),
});
export type AltContext = z.infer<typeof AltContext>;
export type { FragmentParts };

export interface Carried {
  context: AltContext;
  lock: Lock;
  /** Directory of partner RPMs in an input's outputs, if any were built. */
  partnerRepo?: string;
  /** configure's mkimage-profiles feature tree (features.in/sborka), read by build; never carried further. */
  feature?: string;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

/** The context of the first input that carries one. */
export async function readCarried(stepId: string, inputs: Record<string, StoreEntry>): Promise<Carried> {
  for (const id of Object.keys(inputs).sort()) {
    const dir = inputs[id]!.outputsDir;
    if (!(await exists(path.join(dir, CONTEXT_FILE)))) continue;
    const context = AltContext.parse(JSON.parse(await fs.readFile(path.join(dir, CONTEXT_FILE), 'utf8')));
    const lock = Lock.parse(JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8')));
    const repo = path.join(dir, PARTNER_REPO);
    const feature = path.join(dir, FEATURE_DIR);
    return { context, lock, partnerRepo: (await exists(repo)) ? repo : undefined, feature: (await exists(feature)) ? feature : undefined };
  }
  throw badInput(`step "${stepId}": none of its inputs (${Object.keys(inputs).join(', ') || 'none'}) carries ${CONTEXT_FILE}; on the alt toolchain it needs resolve → prepare-root → configure before it`);
}

export async function writeCarried(outputsDir: string, c: Carried): Promise<void> {
  await fs.writeFile(path.join(outputsDir, CONTEXT_FILE), `${JSON.stringify(c.context, null, 2)}\n`);
  await fs.writeFile(path.join(outputsDir, LOCK_FILE), `${JSON.stringify(c.lock, null, 2)}\n`);
  if (c.partnerRepo) await fs.cp(c.partnerRepo, path.join(outputsDir, PARTNER_REPO), { recursive: true });
}
