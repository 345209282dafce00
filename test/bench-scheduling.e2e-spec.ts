/**
 * The benchmark's scheduling isolation (bench/src/orchestrator/scheduling.ts) on real processes: `sleep` children are
 * raised to SCHED_FIFO and put back, read from /proc as the kernel reports it. Raising a thread needs CAP_SYS_NICE
 * (or an RLIMIT_RTPRIO): where a trial shows the machine allows it (CI on these machines, as root), the tests require
 * that isolation works; elsewhere they require the refusal to be reported. Redis itself is only looked up here,
 * never raised.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createClient } from 'redis';
import { localRedisProcess, prepareIsolation, readPolicy } from '../bench/src/orchestrator/scheduling.js';
import { REDIS_URL } from './support/code-exchange.harness.js';
import { canRaiseToRealTime } from './support/real-time.js';

const SCHED_OTHER = 0;
const SCHED_FIFO = 1;
const SCHED_BATCH = 3;
const privileged = canRaiseToRealTime();

const children: ChildProcess[] = [];

function sleeper(command = 'sleep', args = ['60']): { name: string; pid: number; child: ChildProcess } {
  const child = spawn(command, args, { stdio: 'ignore' });
  children.push(child);
  if (!child.pid) throw new Error('could not start sleep');
  return { name: `sleep ${child.pid}`, pid: child.pid, child };
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('prepareIsolation', () => {
  it('reads the policy the kernel reports', async () => {
    expect(await readPolicy(process.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
  });

  it('does nothing when not requested, and says so', async () => {
    const target = sleeper();
    const isolation = await prepareIsolation([target], false);
    await isolation.enter();
    expect({ available: isolation.available, reason: isolation.reason, entered: isolation.entered }).toEqual({
      available: false,
      reason: 'not requested (--no-isolation)',
      entered: false,
    });
    expect(await readPolicy(target.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
  });

  if (privileged) {
    it('raises the targets to SCHED_FIFO 1 while entered and puts each back as it was', async () => {
      const plain = sleeper();
      const batch = sleeper();
      execFileSync('chrt', ['-b', '-p', '0', String(batch.pid)]);
      const isolation = await prepareIsolation([plain, batch], true);
      expect({ available: isolation.available, reason: isolation.reason }).toEqual({ available: true, reason: undefined });
      // Preparing tried it once and put them back.
      expect(await readPolicy(plain.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
      expect(await readPolicy(batch.pid)).toEqual({ policy: SCHED_BATCH, priority: 0 });

      await isolation.enter();
      expect(isolation.entered).toBe(true);
      expect(await readPolicy(plain.pid)).toEqual({ policy: SCHED_FIFO, priority: 1 });
      expect(await readPolicy(batch.pid)).toEqual({ policy: SCHED_FIFO, priority: 1 });

      await isolation.leave();
      expect(isolation.entered).toBe(false);
      expect(await readPolicy(plain.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
      expect(await readPolicy(batch.pid)).toEqual({ policy: SCHED_BATCH, priority: 0 });

      await isolation.enter();
      isolation.leaveSync();
      expect(await readPolicy(plain.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
    });

    it('puts every target back when one refuses to be raised, and rejects', async () => {
      const gone = sleeper();
      const staying = sleeper();
      const isolation = await prepareIsolation([staying, gone], true);
      expect(isolation.available).toBe(true);
      gone.child.kill('SIGKILL');
      await new Promise((resolve) => gone.child.once('exit', resolve));
      await expect(isolation.enter()).rejects.toThrow(/chrt|No such process|failed/i);
      expect(isolation.entered).toBe(false);
      expect(await readPolicy(staying.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
    });

    it('raises nothing once closed, even when asked again (an interrupted run may go on after its cleanup)', async () => {
      const target = sleeper();
      const isolation = await prepareIsolation([target], true);
      await isolation.enter();
      const leaving = isolation.close();
      const again = isolation.enter();
      await Promise.all([leaving, again]);
      expect(isolation.entered).toBe(false);
      expect(await readPolicy(target.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
    });

    it('lets a process the raised target starts meanwhile run at normal scheduling (reset-on-fork)', async () => {
      // The shell forks its second sleep half a second in, while raised; `true` keeps it from exec'ing into it.
      const shell = sleeper('sh', ['-c', 'sleep 0.5; sleep 30; true']);
      const isolation = await prepareIsolation([shell], true);
      await isolation.enter();
      try {
        let grandchild: number | undefined;
        for (let i = 0; i < 50 && grandchild === undefined; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          const children = await readFile(`/proc/${shell.pid}/task/${shell.pid}/children`, 'utf8').catch(() => '');
          const pids = children.trim().split(/\s+/).filter(Boolean).map(Number);
          for (const pid of pids) {
            const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
            if (cmdline.replace(/\0/g, ' ').trim() === 'sleep 30') grandchild = pid;
          }
        }
        expect(grandchild).toBeDefined();
        expect(await readPolicy(shell.pid)).toEqual({ policy: SCHED_FIFO, priority: 1 });
        expect(await readPolicy(grandchild as number)).toEqual({ policy: SCHED_OTHER, priority: 0 });
      } finally {
        await isolation.leave();
        execFileSync('pkill', ['-KILL', '-P', String(shell.pid)]);
      }
    });

    it('leaves without throwing when a target has exited', async () => {
      const gone = sleeper();
      const staying = sleeper();
      const isolation = await prepareIsolation([gone, staying], true);
      await isolation.enter();
      gone.child.kill('SIGKILL');
      await new Promise((resolve) => gone.child.once('exit', resolve));
      await isolation.leave();
      expect(await readPolicy(staying.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
    });
  } else {
    it('reports that the machine refused, and raises nothing', async () => {
      const target = sleeper();
      const isolation = await prepareIsolation([target], true);
      expect(isolation.available).toBe(false);
      expect(isolation.reason).toMatch(/chrt|Linux only/);
      expect(await readPolicy(target.pid).catch(() => ({ policy: SCHED_OTHER, priority: 0 }))).toEqual({ policy: SCHED_OTHER, priority: 0 });
    });
  }

  it('reports a target that does not exist instead of raising the others', async () => {
    const target = sleeper();
    const isolation = await prepareIsolation([target, { name: 'ghost', pid: 2 ** 22 + 17 }], true);
    expect(isolation.available).toBe(false);
    expect(isolation.reason).toContain('ghost');
    expect(await readPolicy(target.pid)).toEqual({ policy: SCHED_OTHER, priority: 0 });
  });
});

describe('localRedisProcess', () => {
  it('finds the local Redis server from INFO server and /proc', async () => {
    const redis = createClient({ url: REDIS_URL });
    redis.on('error', () => undefined);
    try {
      await redis.connect().catch((error: Error) => {
        throw new Error(`This test needs a real Redis at ${REDIS_URL} (set REDIS_URL): ${error.message}`);
      });
      const info = String(await redis.sendCommand(['INFO', 'server']));
      const found = await localRedisProcess(REDIS_URL, info);
      const host = new URL(REDIS_URL).hostname;
      if (!['127.0.0.1', '::1', '[::1]', 'localhost'].includes(host)) {
        expect(found).toEqual({ reason: expect.stringContaining('not on this machine') });
        return;
      }
      expect(found).toEqual({ name: 'Redis', pid: Number(/^process_id:(\d+)/m.exec(info)?.[1]) });
    } finally {
      await redis.close().catch(() => undefined);
    }
  });

  it('refuses a process that is not that Redis, and a Redis on another host', async () => {
    const own = `process_id:${process.pid}\r\ntcp_port:6379\r\n`;
    expect(await localRedisProcess('redis://127.0.0.1:6379', own)).toEqual({ reason: expect.stringContaining('is not the redis-server') });
    expect(await localRedisProcess('redis://redis.internal:6379', own)).toEqual({ reason: 'Redis is not on this machine (redis.internal)' });
    expect(await localRedisProcess('redis://127.0.0.1:6379', 'redis_version:7.0.15\r\n')).toEqual({ reason: 'INFO server gave no process_id' });
  });
});
