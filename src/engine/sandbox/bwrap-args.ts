import fs from 'node:fs';

/**
 * bubblewrap's command line for one process of a job. The sandbox's root is an empty tmpfs,
 * made read-only once everything is mounted, holding only:
 *   - the system folders (/usr, /etc, /opt, and /bin, /lib… as the host has them), read-only;
 *   - a fresh /dev, a /proc of the new pid namespace (the server's processes are not in it),
 *     and private, empty /tmp and /var/tmp;
 *   - the job's own folders, writable, at the same paths as on the host (so paths in the
 *     job's environment mean the same inside and out), and the paths it may read, read-only.
 * The data folder, the artifact store, the database cluster and other jobs' folders are
 * simply not there. The network namespace is the host's: builds fetch dependencies.
 *
 * `--die-with-parent` and the new pid namespace make the tree end with bwrap itself: when
 * the process group is terminated (or bwrap dies), the namespace's pid 1 is killed, and the
 * kernel kills everything left in it, even processes that called `setsid`.
 */

export interface SystemEntry {
  path: string;
  /** Set when the host's entry is a symlink (merged /usr: /bin -> usr/bin). */
  symlinkTo?: string;
}

const systemPaths = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];
/** resolv.conf may point into /run; nothing else of /run is shown. */
const optionalPaths = ['/run/systemd/resolve'];

/** The host's system folders, looked up once per process. */
export function hostSystemEntries(): SystemEntry[] {
  const entries: SystemEntry[] = [];
  for (const entry of [...systemPaths, ...optionalPaths]) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(entry);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) entries.push({ path: entry, symlinkTo: fs.readlinkSync(entry) });
    else if (stat.isDirectory()) entries.push({ path: entry });
  }
  return entries;
}

export function bwrapArgs(options: {
  system: readonly SystemEntry[];
  /** Files shown in place of the host's (read-only), e.g. an /etc/passwd naming the slot uids. */
  overlays?: ReadonlyArray<{ source: string; target: string }>;
  writable: readonly string[];
  readable: readonly string[];
  cwd: string;
  command: string;
  args: readonly string[];
}): string[] {
  const args = [
    '--die-with-parent',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'sluice-job',
  ];
  for (const entry of options.system) {
    if (entry.symlinkTo !== undefined) args.push('--symlink', entry.symlinkTo, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  for (const overlay of options.overlays ?? []) args.push('--ro-bind', overlay.source, overlay.target);
  args.push('--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--tmpfs', '/var/tmp');
  for (const dir of options.writable) args.push('--bind', dir, dir);
  for (const dir of options.readable) args.push('--ro-bind-try', dir, dir);
  args.push('--remount-ro', '/', '--chdir', options.cwd, '--', options.command, ...options.args);
  return args;
}
