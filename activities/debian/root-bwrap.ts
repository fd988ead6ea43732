// The bubblewrap command line both root sandboxes share (sandbox.ts on the host's arch,
// qemu-user.ts for a foreign root): the root as "/", a minimal /dev and /proc, fresh tmpfs
// for /tmp and /run, new ipc, pid, net and uts namespaces (no network), a clean environment.
// What the root's uid 0 may do is the caller's `privilege` part, the one place they differ.

/** A program to run inside a build root, whichever sandbox runs it. */
export interface InRootRun {
  argv: readonly string[];
  env?: Record<string, string>;
  phase: string;
}

const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function bwrapInRoot(root: string, privilege: readonly string[], argv: readonly string[], extraEnv: Record<string, string> = {}): string[] {
  const env = { PATH: ROOT_PATH, HOME: '/root', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', ...extraEnv };
  return [
    'bwrap',
    '--bind', root, '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--tmpfs', '/tmp',
    '--tmpfs', '/run',
    ...privilege,
    '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try',
    '--hostname', 'sborka',
    '--die-with-parent',
    '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--chdir', '/',
    '--',
    ...argv,
  ];
}
