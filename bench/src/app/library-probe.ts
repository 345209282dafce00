import { performance } from 'node:perf_hooks';
import type { CodeExchangeEvent, CodeExchangeRequest, CodeExchangeService } from 'nestjs-wechat-auth';
import { WechatApiError } from 'nestjs-wechat-auth';
import { preciseNow } from '../shared/protocol.js';
import type { StrategyId } from '../shared/strategies.js';
import { currentHit, type HitRecorder } from './hit-recorder.js';

/**
 * Measurement hooks around one CodeExchangeService, added by the harness (the library is not modified):
 * - `exchange()` is wrapped to time the whole coordinated step of each hit, and the upstream callback it is given is
 *   wrapped to time the bare exchange of the hit that runs it (the winner);
 * - the service's events are attributed to the hit they belong to through AsyncLocalStorage.
 * The same two timestamps (step start/end) and the same upstream timing are taken for every baseline.
 */
export function instrumentCodeExchange(id: StrategyId, service: CodeExchangeService, recorder: HitRecorder): void {
  const original = service.exchange.bind(service);
  const instrumented = async <T>(request: CodeExchangeRequest<T>): Promise<T> => {
    const record = currentHit.getStore();
    if (!record || record.strategy !== id) return original(request);
    record.exchangeStartedAt = preciseNow();
    const timedUpstream = async (signal: AbortSignal): Promise<T> => {
      const started = performance.now();
      try {
        const value = await request.exchange(signal);
        record.upstreamMs = performance.now() - started;
        record.role = 'winner';
        return value;
      } catch (error) {
        record.upstreamMs = performance.now() - started;
        record.role =
          error instanceof WechatApiError && (error.errcode === 40163 || error.errcode === 40029) ? 'upstream-refused' : 'failed';
        throw error;
      }
    };
    try {
      const value = await original({ ...request, exchange: timedUpstream });
      record.exchangeEndedAt = preciseNow();
      if (record.upstreamMs === undefined) record.role = 'shared';
      return value;
    } catch (error) {
      record.exchangeEndedAt = preciseNow();
      record.failure ??= describeFailure(error);
      // The guard may now answer with a redirect (re-authorization) and never reach the handler or a filter.
      recorder.settle(record);
      throw error;
    }
  };
  (service as { exchange: typeof instrumented }).exchange = instrumented;

  service.on((event: CodeExchangeEvent) => {
    const record = currentHit.getStore();
    if (!record || record.strategy !== id) return;
    switch (event.type) {
      case 'winner':
        // A winner that coordinated in process (Redis timed out or the breaker was open) may be a second exchange.
        record.libraryEvent = `${event.takeover ? 'winner (takeover)' : 'winner'}${event.coordination === 'in-process' ? ' in process' : ''}`;
        record.libraryDurationMs = event.durationMs;
        record.libraryExchangeMs = event.exchangeMs;
        break;
      case 'local-join':
      case 'late-hit':
        record.libraryEvent = event.type === 'late-hit' ? `late-hit (${event.source})` : event.type;
        record.libraryDurationMs = event.durationMs;
        break;
      case 'remote-wait':
        record.libraryEvent = event.type;
        record.libraryDurationMs = event.durationMs;
        record.wokenBy = event.wokenBy;
        break;
      case 'replay-rejected':
      case 'wait-timeout':
      case 'abandoned':
      case 'takeover':
        record.libraryEvent = event.type;
        break;
      default:
        break;
    }
  });
}

/**
 * Diagnostics (`--profile`): times the library's internal steps for each hit. It reaches into private members by
 * name, which is fine for a profiler and nothing else: if the internals change, profiling is skipped with a warning.
 */
export function profileCodeExchange(id: StrategyId, service: CodeExchangeService): void {
  const internals = service as unknown as Record<string, Record<string, unknown> | undefined>;
  const targets: Array<[Record<string, unknown> | undefined, string, string]> = [
    [internals.sealer, 'sealEncoded', 'seal'],
    [internals.sealer, 'open', 'open'],
    [internals.shared, 'claim', 'claim'],
    [internals.shared, 'complete', 'complete'],
    [internals.shared, 'subscribe', 'subscribe'],
    [internals.keys, 'derive', 'derive'],
  ];
  for (const [object, method, label] of targets) {
    const original = object?.[method];
    if (!object || typeof original !== 'function') {
      console.warn(`[bench] profile: ${id} has no ${label} step to time; skipped`);
      continue;
    }
    object[method] = function timed(this: unknown, ...args: unknown[]) {
      const record = currentHit.getStore();
      const started = performance.now();
      const add = () => {
        if (record && record.strategy === id) {
          record.profile ??= {};
          record.profile[label] = (record.profile[label] ?? 0) + (performance.now() - started);
        }
      };
      const result = (original as (...a: unknown[]) => unknown).apply(this, args);
      if (result instanceof Promise) return result.finally(add);
      add();
      return result;
    };
  }
}

export function describeFailure(error: unknown): string {
  if (error instanceof WechatApiError) return `errcode ${error.errcode}`;
  if (error instanceof Error) return error.name === 'Error' ? error.message.slice(0, 80) : error.name;
  return 'unknown';
}
