import { fork, type ChildProcess } from 'node:child_process';
import type { ChildMessage } from '../shared/protocol.js';

/** A child process of the benchmark (the emulator or an app instance). */
export interface Child {
  name: string;
  origin: string;
  process: ChildProcess;
  /** The last lines it wrote (for error messages). */
  output(): string;
}

const children = new Set<ChildProcess>();
let hooksInstalled = false;

/**
 * Kills every child still running: SIGTERM first (they close their servers and Redis connections), SIGKILL for any
 * still alive after `graceMs`. Children also exit by themselves when the IPC channel closes (the parent died).
 */
export async function stopAllChildren(graceMs = 3000): Promise<void> {
  const alive = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(
    alive.map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, graceMs);
          timer.unref();
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (child.connected) child.send({ type: 'shutdown' }, () => undefined);
          child.kill('SIGTERM');
        }),
    ),
  );
  children.clear();
}

function killAllNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Makes sure no child outlives the orchestrator: normal exit, Ctrl-C, SIGTERM, or a crash. */
export function installExitHooks(onSignal: (signal: NodeJS.Signals) => void): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => onSignal(signal));
  }
}

/** Forks `modulePath` with an IPC channel and waits for its `ready` message (bounded by `timeoutMs`). */
export function startChild(
  name: string,
  modulePath: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
  execArgv: string[] = [],
): Promise<Child> {
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(chunk.toString('utf8'));
    if (lines.length > 50) lines.shift();
  };
  const child = fork(modulePath, [], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    execArgv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Its own process group would survive our Ctrl-C; staying in ours means the terminal's SIGINT reaches it too.
    detached: false,
  });
  children.add(child);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', () => children.delete(child));
  const output = () => lines.join('').slice(-4000);
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    child.on('message', (message: ChildMessage) => {
      if (message?.type === 'ready') {
        clearTimeout(timer);
        resolve({ name, origin: message.origin, process: child, output });
      } else if (message?.type === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`${name} failed to start: ${message.message}\n${output()}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during startup (${signal ?? code}):\n${output()}`));
    });
  });
}
