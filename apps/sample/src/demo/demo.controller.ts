import { Controller, Get, Header } from '@nestjs/common';
import { DemoCountersService, type DemoCounters } from './demo-counters.service.js';

/** Demo mode only: the counters panel as JSON (`GET /demo/counters`). */
@Controller('demo')
export class DemoController {
  constructor(private readonly counters: DemoCountersService) {}

  @Get('counters')
  @Header('Cache-Control', 'no-store')
  snapshot(): DemoCounters {
    return this.counters.snapshot();
  }
}
