// Finds each artifact a publish step names among the store entries of the steps it needs,
// with the digests the store recorded for it: publishing copies and signs exactly those.
import * as path from 'node:path';
import { artifactNamePattern, OUTPUT_FORMATS } from '../../plan/formats';
import { conventionalRef, type ArtifactRef } from '../../publish/params';
import type { StoreEntry } from '../store';

export interface ResolvedArtifact {
  name: string;
  format: ArtifactRef['format'];
  step: string;
  entry: StoreEntry;
  /** Path inside the step's outputs: a file, or a directory (an OCI layout). */
  path: string;
  isDir: boolean;
  /** Files of the artifact, relative to `path` ('' for a single file). */
  files: Array<{ rel: string; sha256: string; size: number }>;
}

export class ArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactError';
  }
}

/** The names an image of each output format has among a step's outputs (plan/formats.ts). */
const EXTENSIONS = new Map<string, RegExp>(OUTPUT_FORMATS.map((f) => [f, artifactNamePattern(f)]));

export function resolveArtifacts(refs: ReadonlyArray<string | ArtifactRef>, inputs: Record<string, StoreEntry>): ResolvedArtifact[] {
  const out: ResolvedArtifact[] = [];
  for (const ref of refs) {
    const want = typeof ref === 'string' ? { name: ref, ...conventionalRef(ref) } : { name: ref.name, step: ref.step, paths: [ref.path], format: ref.format };
    const entry = inputs[want.step];
    if (!entry) {
      throw new ArtifactError(`artifact "${want.name}" comes from step "${want.step}", which this publish step does not need; the plan must list it in needs (have: ${Object.keys(inputs).sort().join(', ') || 'none'})`);
    }
    const files = entry.manifest.outputs.files;
    let paths = want.paths;
    if (paths.length === 0) {
      const tops = [...new Set(files.map((f) => f.path.split('/')[0]!))];
      const ext = EXTENSIONS.get(want.format);
      const fitting = tops.length === 1 ? tops : tops.filter((t) => ext?.test(t));
      if (fitting.length !== 1) throw new ArtifactError(`artifact "${want.name}": step "${want.step}" has ${tops.length === 0 ? 'no outputs' : `outputs ${tops.join(', ')}`}; cannot tell which is the ${want.format} image`);
      paths = fitting;
    }
    const found = paths.map((p) => pick(p, files)).find((x) => x !== undefined);
    if (!found) throw new ArtifactError(`artifact "${want.name}": step "${want.step}" has no ${paths.join(' or ')} among its outputs`);
    out.push({ name: want.name, format: want.format, step: want.step, entry, ...found });
    if (want.name === 'license-report') {
      // The report's human-readable renderings travel with it when the verifier made them.
      const base = found.path.replace(/\.json$/, '');
      for (const ext of ['.md', '.html']) {
        const companion = pick(`${base}${ext}`, files);
        if (companion && !companion.isDir) out.push({ name: `${want.name}${ext.replace('.', '-')}`, format: 'report', step: want.step, entry, ...companion });
      }
    }
  }
  return out;
}

function pick(p: string, files: ReadonlyArray<{ path: string; sha256: string; size: number }>): Omit<ResolvedArtifact, 'name' | 'format' | 'step' | 'entry'> | undefined {
  const norm = path.posix.normalize(p).replace(/\/$/, '');
  const exact = files.find((f) => f.path === norm);
  if (exact) return { path: norm, isDir: false, files: [{ rel: '', sha256: exact.sha256, size: exact.size }] };
  const inside = files.filter((f) => f.path.startsWith(`${norm}/`));
  if (inside.length === 0) return undefined;
  return { path: norm, isDir: true, files: inside.map((f) => ({ rel: f.path.slice(norm.length + 1), sha256: f.sha256, size: f.size })) };
}
