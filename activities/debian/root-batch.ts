// The programs configure runs inside a root (locale-gen, post-install scripts,
// update-initramfs), run as one batch: one bubblewrap call on the host's arch, one VM boot
// for a foreign root or a partner's (isolation "vm"), where every boot and copy of the root costs a minute or more under TCG.
// Each command's argv travels as a NUL-separated file that xargs hands to the program, so
// no argument is ever parsed by a shell; the batch stops at the first command that fails.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { KindContext } from '../kinds/registry';
import { writeInRoot } from './root-fs';
import type { ToolRun } from './run-tool';
import { runInRoot, type Isolation } from './sandbox';

export interface RootCommand {
  argv: readonly string[];
  /** What the progress view shows while the batch reaches this command. */
  phase: string;
  /** The step's failure when this command fails, from its own output lines. */
  failure: (lines: string[], exitCode: number | undefined) => unknown;
}

const DIR = '/.sborka/batch';
const MARK = '--- sborka-batch: command ';

// $0 of the inner sh is the file its exit code goes to; "$@" is the argv, run as given.
const DRIVER = `set -u
i=1
while [ -e ${DIR}/$i.argv ]; do
  echo "${MARK}$i"
  xargs -0 -a ${DIR}/$i.argv sh -c '"$@"; echo $? > "$0"' ${DIR}/$i.rc
  [ "$(cat ${DIR}/$i.rc 2>/dev/null)" = 0 ] || exit 1
  i=$((i + 1))
done
`;

/** Runs the commands in order inside the root; throws the failing command's own failure. */
export async function runRootBatch(ctx: KindContext, root: string, debArch: string, commands: readonly RootCommand[], env: Record<string, string>, isolation: Isolation = 'host-sandbox'): Promise<void> {
  if (commands.length === 0) return;
  for (const [i, c] of commands.entries()) await writeInRoot(root, `${DIR}/${i + 1}.argv`, Buffer.from(c.argv.map((a) => `${a}\0`).join('')));
  await writeInRoot(root, `${DIR}/run.sh`, DRIVER, 0o755);
  const phase = commands.map((c) => c.phase).join(', ');
  ctx.progress({ phase });
  const r = await runInRoot(ctx, root, debArch, { argv: ['/bin/sh', `${DIR}/run.sh`], phase, env }, isolation);
  const codes = await Promise.all(commands.map((_, i) => fs.readFile(path.join(root, DIR, `${i + 1}.rc`), 'utf8').then((t) => Number(t.trim()), () => undefined)));
  await fs.rm(path.join(root, DIR), { recursive: true, force: true });
  const failed = codes.findIndex((c) => c !== 0);
  if (failed === -1 && r.ok) return;
  if (failed === -1) throw r.failure;
  throw commands[failed]!.failure(linesOf(r, failed + 1), codes[failed]);
}

/** The output lines between command n's marker and the next one's. */
function linesOf(r: ToolRun, n: number): string[] {
  const start = r.lines.findIndex((l) => l.endsWith(`${MARK}${n}`));
  if (start === -1) return r.lines;
  const end = r.lines.findIndex((l, i) => i > start && l.includes(MARK));
  return r.lines.slice(start + 1, end === -1 ? undefined : end);
}
