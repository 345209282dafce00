/**
 * The full soak, run by hand: `npm run test:soak` (after `npm run build`). Mixed logins with Android double hits,
 * bursts, late duplicates and denials across three sample-app processes sharing Redis, for SOAK_SECONDS (default
 * 180), then a wait for the result TTL (60 s, the library's default; the sample app does not shorten it) to see
 * Redis and the heap go back to their baseline. Figures are printed and written to test-artifacts/soak-latest.json
 * (the README's "Reliability and security" section quotes them).
 *
 * Knobs: SOAK_SECONDS, SOAK_CONCURRENCY (virtual users, default 8), SOAK_INSTANCES (default 3).
 */
import { describe, expect, it } from '@jest/globals';
import { printTable, writeArtifact } from './support/figures.js';
import { DEFAULT_RESULT_TTL_MS, runSoak, soakSummaryRows } from './support/soak.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
const INSTANCES = Number(process.env.SOAK_INSTANCES ?? 3);
const WARMUP_SECONDS = 10;

describe('soak (full)', () => {
  it(`${SECONDS} s of mixed logins over ${INSTANCES} instances, then the result TTL: no error, one exchange per code, flat memory, Redis back to baseline`, async () => {
    const report = await runSoak(
      {
        seconds: SECONDS,
        concurrency: CONCURRENCY,
        instances: INSTANCES,
        warmupSeconds: WARMUP_SECONDS,
        sampleEverySeconds: 15,
        waitForResultTtl: true,
        resultTtlMs: DEFAULT_RESULT_TTL_MS,
      },
      (line) => process.stdout.write(`${line}\n`),
    );
    const path = await writeArtifact('soak-latest.json', report);
    printTable(`Soak (${path}):`, soakSummaryRows(report));
    printTable(
      'Heap after GC over time (MB, per instance):',
      report.memory.samples.map((sample) => ({ 's': sample.atSeconds, heap: sample.heapUsedMB.join(' / '), rss: sample.rssMB.join(' / ') })),
    );

    expect(report.errors.firstErrors).toEqual([]);
    expect(report.errors).toMatchObject({ failedLogins: 0, http5xx: 0 });
    expect(report.exchange.codesWithOtherThanOneCall).toBe(0);
    expect(report.exchange.upstreamCalls).toBe(report.exchange.codes);
    expect(report.redis).toMatchObject({ keysBefore: 0, lockKeysAtEnd: 0, keysWithoutTtl: 0, keysAfterTtl: 0 });
    expect(report.redis.maxTtlMs).toBeLessThanOrEqual(DEFAULT_RESULT_TTL_MS);

    // Flat memory: once the result TTL has passed under load, outcomes expire as fast as they are added, so the heap
    // stops growing; after the load and the TTL it is back to the baseline.
    const steadyFrom = WARMUP_SECONDS + DEFAULT_RESULT_TTL_MS / 1000 + 10;
    const steady = report.memory.samples.filter((sample) => sample.atSeconds >= steadyFrom && sample.atSeconds <= SECONDS);
    if (steady.length >= 2) {
      const first = steady[0]!;
      const last = steady[steady.length - 1]!;
      for (let i = 0; i < INSTANCES; i++) expect(last.heapUsedMB[i]! - first.heapUsedMB[i]!).toBeLessThan(4);
    }
    for (let i = 0; i < INSTANCES; i++) {
      expect(report.memory.afterTtlHeapMB![i]! - report.memory.baselineHeapMB[i]!).toBeLessThan(4);
    }
    expect(report.latencyMs.max).toBeLessThan(3_000);
  }, (SECONDS + DEFAULT_RESULT_TTL_MS / 1000 + 180) * 1000);
});
