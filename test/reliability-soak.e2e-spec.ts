/**
 * The soak, scaled down for CI (about 20 s of load; `npm run test:soak` runs the long one, see
 * test/load.soak-spec.ts): mixed logins with Android double hits, bursts and late duplicates across three sample-app
 * processes sharing Redis. Asserts no failed login and no 5xx, exactly one upstream exchange per code, bounded heap
 * growth (what is retained per login is the outcome kept for the result TTL, no more), no leftover lock, every Redis
 * key expiring within the result TTL; reports latency and event-loop delay. Figures go to
 * test-artifacts/soak-ci.json. SOAK_CI_SECONDS and SOAK_CONCURRENCY override the size.
 */
import { describe, expect, it } from '@jest/globals';
import { printTable, writeArtifact } from './support/figures.js';
import { DEFAULT_RESULT_TTL_MS, runSoak, soakSummaryRows } from './support/soak.js';

const SECONDS = Number(process.env.SOAK_CI_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);

describe('soak (CI size)', () => {
  it(`${SECONDS} s of mixed logins with duplicates over three instances: no error, one exchange per code, bounded memory`, async () => {
    const report = await runSoak(
      {
        seconds: SECONDS,
        concurrency: CONCURRENCY,
        instances: 3,
        warmupSeconds: 4,
        sampleEverySeconds: 8,
        waitForResultTtl: false,
        resultTtlMs: DEFAULT_RESULT_TTL_MS,
      },
      (line) => process.stdout.write(`${line}\n`),
    );
    const path = await writeArtifact('soak-ci.json', report);
    printTable(`Soak, CI size (${path}):`, soakSummaryRows(report));

    expect(report.errors.firstErrors).toEqual([]);
    expect(report.errors).toMatchObject({ failedLogins: 0, http5xx: 0 });
    expect(report.logins.total).toBeGreaterThan(SECONDS * 5);
    for (const kind of ['android', 'burst', 'late', 'denied'] as const) expect(report.logins.byKind[kind]).toBeGreaterThan(0);
    // Exactly one exchange per code, and no call WeChat saw for anything else.
    expect(report.exchange.codesWithOtherThanOneCall).toBe(0);
    expect(report.exchange.upstreamCalls).toBe(report.exchange.codes);
    // Redis: one result per code (all within their TTL here), no lock left, every key expiring within the TTL.
    expect(report.redis).toMatchObject({ keysBefore: 0, lockKeysAtEnd: 0, keysWithoutTtl: 0, keysAtEnd: report.exchange.codes });
    expect(report.redis.maxTtlMs).toBeLessThanOrEqual(DEFAULT_RESULT_TTL_MS);
    // Memory: each login legitimately keeps its sealed outcome in the instance's table until the TTL (a couple of
    // KB); anything near 50 KB a login would be a leak. Absolute growth stays small.
    for (const [i, retained] of report.memory.retainedKBPerLogin.entries()) {
      expect(retained).toBeLessThan(50);
      expect(report.memory.endHeapMB[i]! - report.memory.baselineHeapMB[i]!).toBeLessThan(32);
    }
    // No request waited on anything unbounded; no instance stalled.
    expect(report.latencyMs.max).toBeLessThan(3_000);
    for (const loop of report.eventLoopDelayMs.instances) expect(loop.max).toBeLessThan(1_000);
  }, (SECONDS + 90) * 1000);
});
