// Which task queues an alt build host may serve: `build-<arch>` for the arches it builds
// natively or declares for emulation (SBORKA_ALT_EMULATE), `build-e2k` only when it
// declares an e2k generation. Pure: `sborka worker --toolchain alt` refuses at start
// with these messages instead of taking steps it would fail.
import { Arch } from '../../dsl/plan-schemas';
import { taskQueueFor } from '../../dsl/arches';
import { archMode, type AltHost } from './host';

type ArchName = (typeof Arch.options)[number];

/** The control queue runs workflows only; any worker may poll it. */
const CONTROL_QUEUES = ['sborka'];

/** One sentence per queue this host must not serve, saying what to set instead. */
export function altQueueProblems(host: AltHost, queues: readonly string[]): string[] {
  const problems: string[] = [];
  for (const q of queues) {
    if (CONTROL_QUEUES.includes(q)) continue;
    if (q === 'build-e2k') {
      if (!host.arches.some((a) => a.startsWith('e2k'))) {
        problems.push(`queue build-e2k: this host does not declare an e2k arch (SBORKA_ALT_ARCHES=${host.arches.join(',')}); e2k steps go only to e2k hosts that declare e2kv4, e2kv5 or e2kv6, and cannot be emulated`);
      }
      continue;
    }
    const m = /^build-(.+)$/.exec(q);
    const arch = m ? Arch.options.find((a) => a === m[1]) : undefined;
    if (!arch || arch.startsWith('e2k')) {
      problems.push(`queue ${q}: not an arch queue (expected ${[...new Set(Arch.options.map((a) => taskQueueFor(a)))].join(', ')} or ${CONTROL_QUEUES.join(', ')})`);
      continue;
    }
    const mode = archMode(host, arch);
    if (mode.mode === 'refused') problems.push(`queue ${q}: ${mode.why}`);
  }
  return problems;
}

/** The queues an alt host serves by default: its native arches'. */
export function altDefaultQueues(host: AltHost): string[] {
  return [...new Set(host.arches.map((a: ArchName) => taskQueueFor(a)))];
}
