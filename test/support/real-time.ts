import { execFileSync, spawn } from 'node:child_process';

/**
 * Whether this machine lets the tests raise a process to real-time scheduling (root with CAP_SYS_NICE, or an
 * RLIMIT_RTPRIO), found out by trying it on a short-lived child: being root is not enough in a container without
 * the capability, and a non-root user with the limit can.
 */
export function canRaiseToRealTime(): boolean {
  if (process.platform !== 'linux') return false;
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  try {
    if (!child.pid) return false;
    execFileSync('chrt', ['-f', '-p', '1', String(child.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    child.kill('SIGKILL');
  }
}
