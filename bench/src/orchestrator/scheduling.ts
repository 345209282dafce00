import { execFile, execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/**
 * Scheduling isolation of the system under test (the app instances and Redis) during the latency phases.
 *
 * On the benchmark's machine the load generator (the browsers) and the emulator (WeChat) share the cores with the
 * instances and Redis; in production they are other machines. When a reply reaches an instance while every core runs
 * one of those stand-ins, the instance waits for a core: a bare Redis PING from inside the instances had a p99 of
 * 3-5 ms on 2 cores a third busy, for every strategy alike. `nice` does not shorten that wait (under EEVDF it sets a
 * task's share, not how soon it runs after waking; an A/B was inconclusive), nor does a shorter EEVDF slice (measured:
 * no change). SCHED_FIFO does: a real-time thread that wakes takes a core from a normal one at once.
 *
 * Only the main thread of each process is raised: an instance's event loop, Redis's command thread. V8's GC helpers,
 * libuv's pool and Redis's background threads and children keep normal scheduling (even those created while it is
 * raised: reset-on-fork), and the kernel's real-time throttling (by default 95% of each second) bounds what a runaway
 * thread could take. It is never used at saturation (the
 * throughput phase, the heavy-load phase), where it would starve the load generator.
 */

/** A process whose main thread is raised during the isolated phases. */
export interface IsolationTarget {
  name: string;
  pid: number;
}

/** A Linux scheduling policy and real-time priority, as /proc/PID/stat reports them. */
export interface SchedulingPolicy {
  policy: number;
  priority: number;
}

const SCHED_FIFO = 1;
/** The lowest real-time priority: above every normal thread, below anything the system itself runs in real time. */
const ISOLATED: SchedulingPolicy = { policy: SCHED_FIFO, priority: 1 };
/** chrt's flag for each policy it can set (SCHED_DEADLINE needs parameters we would not know how to restore). */
const CHRT_FLAG: Record<number, string> = { 0: '-o', 1: '-f', 2: '-r', 3: '-b', 5: '-i' };

/** Reads a thread's policy and priority (fields 41 and 40 of /proc/PID/stat). */
export async function readPolicy(pid: number): Promise<SchedulingPolicy> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and brackets: count fields from its closing bracket.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const priority = Number(fields[40 - 3]);
  const policy = Number(fields[41 - 3]);
  if (!Number.isInteger(policy) || !Number.isInteger(priority)) throw new Error(`/proc/${pid}/stat has no scheduling policy`);
  return { policy, priority };
}

function chrtArgs(pid: number, to: SchedulingPolicy): string[] {
  const flag = CHRT_FLAG[to.policy];
  if (!flag) throw new Error(`scheduling policy ${to.policy} cannot be set with chrt`);
  // Raised with reset-on-fork: a thread or process the target creates meanwhile (libuv's pool started late, a
  // Redis BGSAVE child) starts at normal scheduling instead of inheriting real-time priority nobody would restore.
  const resetOnFork = to.policy === SCHED_FIFO ? ['-R'] : [];
  return [...resetOnFork, flag, '-p', String(to.policy === SCHED_FIFO || to.policy === 2 ? to.priority : 0), String(pid)];
}

function chrtFailure(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { stderr?: string };
  if (e.code === 'ENOENT') return 'chrt (util-linux) is not installed';
  const said = String(e.stderr ?? '').trim().split('\n')[0];
  return said ? `chrt refused: ${said}` : `chrt failed (${e.code ?? e.message})`;
}

function setPolicy(pid: number, to: SchedulingPolicy): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('chrt', chrtArgs(pid, to), { timeout: 5_000 }, (error, _stdout, stderr) =>
      error ? reject(Object.assign(error, { stderr })) : resolve(),
    );
  });
}

/** Raises the system under test during the latency phases and puts it back as it was. */
export interface SchedulingIsolation {
  /** Whether entering raises anything (false: not requested, or the machine refused; see `reason`). */
  readonly available: boolean;
  /** Why the run is not isolated, when it is not. */
  readonly reason?: string;
  /** The processes raised while isolated. */
  readonly targets: readonly IsolationTarget[];
  /** Whether any target may be raised now (from the start of `enter()` until a restore has finished). */
  readonly entered: boolean;
  /**
   * Raises every target's main thread to SCHED_FIFO 1 (threads and processes it creates meanwhile start at normal
   * scheduling). If any target refuses, every target is put back before this rejects. No-op when unavailable,
   * already entered, or closed.
   */
  enter(): Promise<void>;
  /** Puts every target back to the policy it had before. Never throws: a target that has exited is skipped. */
  leave(): Promise<void>;
  /** `leave()`, and no `enter()` after it: for the run's cleanup, which the interrupted run may still follow. */
  close(): Promise<void>;
  /** `leave()` for a process `exit` handler, where nothing asynchronous runs. */
  leaveSync(): void;
}

function unavailable(reason: string, targets: readonly IsolationTarget[] = []): SchedulingIsolation {
  return {
    available: false,
    reason,
    targets,
    entered: false,
    enter: async () => undefined,
    leave: async () => undefined,
    close: async () => undefined,
    leaveSync: () => undefined,
  };
}

class FifoIsolation implements SchedulingIsolation {
  readonly available = true;
  private raised = false;
  private closed = false;
  /** enter() and leave() run one after the other, so a restore never races a raise still in progress. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly targets: readonly IsolationTarget[],
    private readonly original: ReadonlyMap<number, SchedulingPolicy>,
  ) {}

  get entered(): boolean {
    return this.raised;
  }

  enter(): Promise<void> {
    return this.serially(async () => {
      if (this.closed || this.raised) return;
      this.raised = true;
      const raising = await Promise.allSettled(this.targets.map((t) => setPolicy(t.pid, ISOLATED)));
      const refused = raising.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (refused) {
        await this.restore();
        throw refused.reason;
      }
    });
  }

  leave(): Promise<void> {
    return this.serially(() => this.restore());
  }

  close(): Promise<void> {
    this.closed = true;
    return this.leave();
  }

  leaveSync(): void {
    if (!this.raised) return;
    for (const t of this.targets) {
      try {
        execFileSync('chrt', chrtArgs(t.pid, this.policyOf(t)), { timeout: 5_000, stdio: 'ignore' });
      } catch {
        // The target may have exited already; nothing else can be done on the way out.
      }
    }
    this.raised = false;
  }

  private async restore(): Promise<void> {
    if (!this.raised) return;
    await Promise.allSettled(this.targets.map((t) => setPolicy(t.pid, this.policyOf(t))));
    this.raised = false;
  }

  private policyOf(target: IsolationTarget): SchedulingPolicy {
    return this.original.get(target.pid) as SchedulingPolicy;
  }

  private serially(operation: () => Promise<void>): Promise<void> {
    const done = this.queue.then(operation);
    this.queue = done.catch(() => undefined);
    return done;
  }
}

/**
 * Prepares isolation of `targets`: records each one's policy, then raises and restores them once, so a machine that
 * refuses (no CAP_SYS_NICE, no chrt, real-time scheduling disabled) is known before any phase depends on it.
 */
export async function prepareIsolation(targets: readonly IsolationTarget[], requested: boolean): Promise<SchedulingIsolation> {
  if (!requested) return unavailable('not requested (--no-isolation)');
  if (process.platform !== 'linux') return unavailable(`Linux only (this is ${process.platform})`);
  if (targets.length === 0) return unavailable('no process to isolate');
  const original = new Map<number, SchedulingPolicy>();
  for (const target of targets) {
    try {
      original.set(target.pid, await readPolicy(target.pid));
    } catch (error) {
      return unavailable(`cannot read the scheduling policy of ${target.name} (${(error as Error).message})`, targets);
    }
  }
  if ([...original.values()].some((p) => CHRT_FLAG[p.policy] === undefined)) {
    return unavailable('a target runs under a policy that could not be restored', targets);
  }
  const isolation = new FifoIsolation(targets, original);
  try {
    await isolation.enter();
    await isolation.leave();
  } catch (error) {
    return unavailable(chrtFailure(error), targets);
  }
  return isolation;
}

/**
 * The local Redis server's process, from `INFO server`, when the benchmark's Redis is on this machine: its
 * process_id, checked against /proc (a redis-server whose title names the same port), so that a Redis in another
 * PID namespace or on another host is never mistaken for a local process.
 */
export async function localRedisProcess(redisUrl: string, info: string): Promise<IsolationTarget | { reason: string }> {
  const host = new URL(redisUrl).hostname.replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) return { reason: `Redis is not on this machine (${host})` };
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  const pid = Number(field('process_id'));
  const port = field('tcp_port');
  if (!Number.isInteger(pid) || pid <= 0 || !port) return { reason: 'INFO server gave no process_id' };
  try {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    const title = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
    if (!comm.startsWith('redis-server') || !title.includes(`:${port}`)) {
      return { reason: `process ${pid} is not the redis-server on port ${port} (another PID namespace?)` };
    }
  } catch {
    return { reason: `Redis's process ${pid} is not visible here (another PID namespace?)` };
  }
  return { name: 'Redis', pid };
}
