import { Controller, Get, Header } from '@nestjs/common';
import { CodeExchangeService, type CodeExchangeHealth } from 'nestjs-wechat-auth';

/** What `GET /health` answers. */
export interface HealthResponse {
  status: 'ok';
  /** The shared Redis behind the code exchange: `disabled` when REDIS_URL is unset (in-memory, one instance). */
  redis: CodeExchangeHealth;
}

@Controller('health')
export class HealthController {
  constructor(private readonly codeExchange: CodeExchangeService) {}

  /**
   * `GET /health`, for load balancers: 200 while the process serves requests. A Redis outage is reported, not
   * turned into a failing check: the code exchange still works per instance without it, and taking every instance
   * out of the pool at once would turn a degraded service into an outage.
   */
  @Get()
  @Header('Cache-Control', 'no-store')
  health(): HealthResponse {
    return { status: 'ok', redis: this.codeExchange.health() };
  }
}
