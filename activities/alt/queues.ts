// Which task queues an alt build host may serve: `build-<arch>` for the arches it builds
// natively, `build-<arch>-emulated` for those it declares for emulation (SBORKA_ALT_EMULATE;
// steps reach that queue only when a plan allows it and no native worker took them in
// time), and `build-e2k` only when it declares an e2k generation (e2k is never emulated).
// Pure: `sborka worker --toolchain alt` refuses at start with these messages instead of
// taking steps it would fail or take from native hosts.
import { Arch } from '../../plan/schemas';
import { canBeEmulated, emulatedTaskQueueFor, taskQueueFor } from '../../plan/arches';
import { archMode, type AltHost } from './host';

type ArchName = (typeof Arch.options)[number];

/** The control queue runs workflows only; any worker may poll it. */
const CONTROL_QUEUES = ['sborka'];

/** The arch a build queue serves, and whether under emulation; undefined for any other name. */
function queueTarget(queue: string): { arch: ArchName; emulated: boolean } | undefined {
  for (const arch of Arch.options) {
    if (queue === taskQueueFor(arch)) return { arch, emulated: false };
    if (queue === emulatedTaskQueueFor(arch)) return { arch, emulated: true };
  }
  return undefined;
}

/** Why this host must not serve the queue, with what to set instead; undefined when it may. */
function queueProblem(host: AltHost, queue: string): string | undefined {
  const target = queueTarget(queue);
  if (!target) {
    const native = [...new Set(Arch.options.map((a) => taskQueueFor(a)))];
    return `not an arch queue (expected ${native.join(', ')}, build-<arch>-emulated or ${CONTROL_QUEUES.join(', ')})`;
  }
  const { arch, emulated } = target;
  if (!canBeEmulated(arch)) {
    if (emulated) return 'e2k cannot be emulated; e2k steps go only to build-e2k, served by e2k hosts that declare their generation (SBORKA_ALT_ARCHES)';
    if (host.arches.some((a) => !canBeEmulated(a))) return undefined;
    return `this host does not declare an e2k arch (SBORKA_ALT_ARCHES=${host.arches.join(',')}); e2k steps go only to e2k hosts that declare e2kv4, e2kv5 or e2kv6, and cannot be emulated`;
  }
  if (emulated) {
    const mode = archMode(host, arch);
    return mode.mode === 'refused' ? mode.why : undefined;
  }
  if (host.arches.includes(arch)) return undefined;
  // An emulating host on the native queue would take steps before the native hosts do.
  if (host.emulate.includes(arch)) {
    return `this worker emulates ${arch}, so it serves ${emulatedTaskQueueFor(arch)}, where steps go once no native worker took them in time; ${queue} is for hosts that build ${arch} natively (SBORKA_ALT_ARCHES=${arch})`;
  }
  return `this worker builds ${host.arches.join(', ')} natively; ${arch} needs a native worker (SBORKA_ALT_ARCHES=${arch}), or SBORKA_ALT_EMULATE=${arch} to serve ${emulatedTaskQueueFor(arch)}`;
}

/** One sentence per queue this host must not serve, saying what to set instead. */
export function altQueueProblems(host: AltHost, queues: readonly string[]): string[] {
  return queues.flatMap((q) => {
    if (CONTROL_QUEUES.includes(q)) return [];
    const problem = queueProblem(host, q);
    return problem === undefined ? [] : [`queue ${q}: ${problem}`];
  });
}

/** The queues an alt host serves by default: its native arches', and the emulated queues of the arches it emulates. */
export function altDefaultQueues(host: AltHost): string[] {
  const emulated = host.emulate.filter((a) => canBeEmulated(a) && !host.arches.includes(a));
  return [...new Set([...host.arches.map((a: ArchName) => taskQueueFor(a)), ...emulated.map((a) => emulatedTaskQueueFor(a))])];
}
