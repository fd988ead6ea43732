// Shared by the dsl tests: recipes from memory or from products/.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { compile, type Compilation } from '../../dsl/compile';
import { Writable } from 'node:stream';

export const ROOT = join(__dirname, '..', '..');

/** Compiles in-memory files; the first is the entry. */
export function compileText(files: Record<string, string>, entries: string[] = [Object.keys(files)[0] as string]): Compilation {
  return compile(entries, { read: (p) => files[p] });
}

export function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.sborka')) out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, 'products'));
  return out.sort();
}

export const diskHost = { read: (p: string): string | undefined => { try { return readFileSync(join(ROOT, p), 'utf8'); } catch { return undefined; } } };

/** A writable stream that keeps what is written to it, as a CLI command's stdout or stderr. */
export function textSink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      w.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

/** The least CPU time (user + system, ms) of `runs` calls of fn: the complexity checks' measure, steadier than wall time on a busy host. */
export function cpuMs(fn: () => void, runs: number): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  return best;
}
