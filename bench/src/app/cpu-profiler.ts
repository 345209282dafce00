import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * Diagnostics (`--cpu-prof DIR`): samples this instance's CPU between start() and stop(), and writes a
 * `.cpuprofile` (open it in Chrome DevTools or VS Code). Used around throughput slices, one file per strategy.
 */
export class CpuProfiler {
  private session?: Session;

  constructor(private readonly dir: string | undefined) {}

  async start(): Promise<boolean> {
    if (!this.dir || this.session) return false;
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.session.post('Profiler.start');
    return true;
  }

  async stop(name: string): Promise<string | undefined> {
    const session = this.session;
    if (!session || !this.dir) return undefined;
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    const file = join(this.dir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    return file;
  }
}
