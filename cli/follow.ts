// Follows a running build until it ends, drawing the progress view: redrawn in place on a
// terminal, one line per change otherwise.
import type { Client } from '@temporalio/client';
import type { CliIo } from './command';
import { changedLines, renderVariants } from './progress-view';
import { buildView, type BuildView } from '../service/builds';

const POLL_MS = 500;

export async function followBuild(client: Client, buildId: string, io: CliIo, finished: Promise<unknown>): Promise<BuildView> {
  let done = false;
  void finished.finally(() => (done = true)).catch(() => undefined);
  const tty = Boolean(io.stdout.isTTY);
  const seen = new Map<string, string>();
  let drawn = 0;
  let last: BuildView | undefined;
  for (;;) {
    const ended = done;
    try {
      last = await buildView(client, buildId);
    } catch (e) {
      if (!last) throw e;
    }
    if (last) {
      if (tty) {
        const lines = renderVariants(last.variants, Date.now(), process.stdout.columns || 100);
        for (const w of last.product.warnings) if (!last.variants.some((v) => w.includes(v.variantId))) lines.unshift(`! ${w}`);
        io.stdout.write(`${drawn ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`);
        drawn = lines.length;
      } else {
        for (const l of changedLines(seen, last.variants)) io.stdout.write(`${l}\n`);
        for (const w of last.product.warnings) {
          if (!seen.has(`!${w}`)) {
            seen.set(`!${w}`, w);
            io.stdout.write(`warning: ${w}\n`);
          }
        }
      }
    }
    if (ended) return last!;
    await Promise.race([finished.catch(() => undefined), new Promise((r) => setTimeout(r, POLL_MS))]);
  }
}
