// A foreign root's own programs through qemu-user, for the distribution's code only (the
// lock's maintainer scripts, locale-gen, update-initramfs and our own recipes' scripts:
// what bubblewrap runs on the host's arch). A partner's code (isolation "vm") never comes
// here: it keeps its VM (sandbox.ts).
// The host has no binfmt_misc of its own, but a user namespace may mount a private one
// (Linux 6.7+): a fixed script makes a user namespace whose ids are the host's (the
// root's files keep their real owners, as the VM's disk does), registers the arch's static
// qemu there with flag F (the kernel holds the interpreter open: nothing of the host need be
// visible in the root), and runs bubblewrap inside it: the root as "/", fresh pid, net, ipc
// and uts namespaces, only the capabilities dpkg needs to own and mode files. The binfmt entry
// lives and dies with that namespace; the host's (and every other process's) stays empty.
// Every exec of the root's programs is then translated, not a whole machine emulated, and
// the root never travels to a disk and back.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { KindContext } from '../kinds/registry';
import { bwrapInRoot, type InRootRun } from './root-bwrap';
import { runTool, type ToolRun } from './run-tool';

const execFileAsync = promisify(execFile);


/** Debian arch -> the qemu-user name of it (qemu-user-static's binfmt.d file and binary). */
const QEMU_ARCH: Record<string, string> = { arm64: 'aarch64', riscv64: 'riscv64' };

/** What dpkg and maintainer scripts need inside the namespace: owners, modes, setuid users; nothing of the machine's. */
const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'SETFCAP', 'KILL', 'SYS_CHROOT', 'AUDIT_WRITE'];

/**
 * $1 a private directory (fifo, mount point), $2 the interpreter, $3 magic, $4 mask, then the
 * command (bwrap's argv). The parent writes the child's id maps once its namespace exists
 * (util-linux's unshare maps a whole range only through /etc/subuid), then lets it go on.
 */
const OUTER = `set -eu
w=$1
rm -f "$w/go"; mkfifo -m 600 "$w/go"; mkdir -p "$w/binfmt"
unshare --user --mount --propagation=private -- /bin/sh -c '
  set -eu
  w=$1; interp=$2; magic=$3; mask=$4; shift 4
  read _ < "$w/go"
  mount -t binfmt_misc binfmt_misc "$w/binfmt"
  printf ":sborka:M::%s:%s:%s:FP\\n" "$magic" "$mask" "$interp" > "$w/binfmt/register"
  exec "$@"' sborka-qemu-user "$@" &
pid=$!
me=$(readlink /proc/self/ns/user)
while [ "$(readlink /proc/$pid/ns/user 2>/dev/null || echo gone)" = "$me" ]; do sleep 0.01; done
kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit $?; }
echo "0 0 4294967295" > /proc/$pid/uid_map
echo "0 0 4294967295" > /proc/$pid/gid_map
echo go > "$w/go"
wait "$pid"
`;

export interface BinfmtEntry { interpreter: string; magic: string; mask: string }

/** The arch's entry of qemu-user-static's binfmt.d file (magic and mask as the kernel reads them). */
export async function binfmtEntry(debArch: string): Promise<BinfmtEntry | undefined> {
  const q = QEMU_ARCH[debArch];
  if (!q) return undefined;
  const conf = await fs.readFile(`/usr/lib/binfmt.d/qemu-${q}.conf`, 'utf8').catch(() => undefined);
  if (!conf) return undefined;
  // :name:type:offset:magic:mask:interpreter:flags; the interpreter is Debian's -binfmt-P
  // name of the static qemu (it then takes the kernel's preserved argv[0]).
  const f = conf.trim().split(':');
  if (f.length < 8 || f[2] !== 'M' || !/^[\\x0-9a-f]+$/.test(f[4]!) || !/^[\\x0-9a-f]+$/.test(f[5]!) || !/^\/[\w./+-]+$/.test(f[6]!)) return undefined;
  if (!(await fs.stat(f[6]!).catch(() => undefined))?.isFile()) return undefined;
  return { interpreter: f[6]!, magic: f[4]!, mask: f[5]! };
}

const probes = new Map<string, Promise<boolean>>();

/**
 * Whether this host runs `debArch` roots through qemu-user: qemu-user-static installed and a
 * binfmt_misc mountable in a user namespace (asked once per arch and process).
 */
export function qemuUserUsable(debArch: string, work: string): Promise<boolean> {
  let p = probes.get(debArch);
  if (!p) {
    p = (async () => {
      const entry = await binfmtEntry(debArch);
      if (!entry) return false;
      const dir = await fs.mkdtemp(path.join(work, 'qemu-user-probe-'));
      try {
        // Registering is what can fail (old kernel, no user namespaces): try it with a host program.
        await execFileAsync('/bin/sh', ['-c', OUTER, 'sborka-qemu-user-probe', dir, entry.interpreter, entry.magic, entry.mask, '/bin/true'], { timeout: 30_000 });
        return true;
      } catch {
        return false;
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    })();
    probes.set(debArch, p);
  }
  return p;
}

/** The argv that runs `run.argv` inside `root` through qemu-user (see the header). */
export function qemuUserArgv(root: string, dir: string, entry: BinfmtEntry, run: InRootRun): string[] {
  const caps = ['--cap-drop', 'ALL', ...CAPS.flatMap((c) => ['--cap-add', `CAP_${c}`])];
  return ['/bin/sh', '-c', OUTER, 'sborka-qemu-user', dir, entry.interpreter, entry.magic, entry.mask, ...bwrapInRoot(root, caps, run.argv, run.env)];
}

/** Runs argv inside the foreign root through qemu-user; returns its output and whether it succeeded. */
export async function runInRootQemuUser(ctx: KindContext, root: string, debArch: string, run: InRootRun): Promise<ToolRun> {
  const entry = await binfmtEntry(debArch);
  if (!entry) throw new Error(`no qemu-user for ${debArch} on this host`);
  const dir = await fs.mkdtemp(path.join(ctx.workDir, 'qemu-user-'));
  try {
    return await runTool(ctx, qemuUserArgv(root, dir, entry, run), { phase: run.phase });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
