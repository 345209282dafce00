import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * Diagnostics (`--cpu-prof DIR`, `--heap-prof DIR`): between start() and stop(), samples this instance's CPU (a
 * `.cpuprofile`) or what its functions allocate (a `.heapprofile`: V8's sampling heap profiler, one sample per
 * 32 KiB allocated on average, objects collected by minor GCs included, so it shows allocation, not retention).
 * Open either in Chrome DevTools or VS Code. Used around throughput slices, one file per strategy and round.
 */
export class CpuProfiler {
  private session?: Session;

  constructor(
    private readonly dir: string | undefined,
    private readonly kind: 'cpu' | 'heap' = 'cpu',
  ) {}

  async start(): Promise<boolean> {
    if (!this.dir || this.session) return false;
    this.session = new Session();
    this.session.connect();
    if (this.kind === 'heap') {
      await this.session.post('HeapProfiler.enable');
      await this.session.post('HeapProfiler.startSampling', {
        samplingInterval: 32_768,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      return true;
    }
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.session.post('Profiler.start');
    return true;
  }

  async stop(name: string): Promise<string | undefined> {
    const session = this.session;
    if (!session || !this.dir) return undefined;
    this.session = undefined;
    const base = join(this.dir, name.replace(/[^A-Za-z0-9_.-]/g, '_'));
    let file: string;
    if (this.kind === 'heap') {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      file = `${base}.heapprofile`;
      await writeFile(file, JSON.stringify(profile));
    } else {
      const { profile } = await session.post('Profiler.stop');
      file = `${base}.cpuprofile`;
      await writeFile(file, JSON.stringify(profile));
    }
    session.disconnect();
    return file;
  }
}
