import { AsyncLocalStorage } from 'node:async_hooks';
import type { NextFunction, Request, Response } from 'express';
import { HIT_HEADER, isStrategyId } from '../shared/strategies.js';
import { preciseNow, type HitRecord } from '../shared/protocol.js';

/** Most records kept between two drains; beyond it hits are counted but not recorded (the report says so). */
const MAX_RECORDS = 200_000;

/** The record of the hit being served, reachable from any code running on its behalf (library events included). */
export const currentHit = new AsyncLocalStorage<HitRecord>();

/**
 * Collects one {@link HitRecord} per callback hit. Harness instrumentation, identical for every strategy: an Express
 * middleware opens the record and runs the rest of the request inside its async context.
 */
export class HitRecorder {
  enabled = true;
  private records: HitRecord[] = [];
  private readonly unsettled = new Set<HitRecord>();
  private dropped = 0;

  constructor(private readonly instance: string) {}

  /** Express middleware; only requests carrying the hit header are recorded. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers[HIT_HEADER];
    if (!this.enabled || typeof header !== 'string') return next();
    const match = /^(\d{1,9})\.(\d{1,3})\.([01])$/.exec(header);
    const strategy = /^\/[sbp]\/([a-z-]+)\/callback/.exec(req.path)?.[1];
    if (!match || !isStrategyId(strategy)) return next();
    if (this.records.length >= MAX_RECORDS) {
      this.dropped++;
      return next();
    }
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    const record: HitRecord = {
      strategy,
      instance: this.instance,
      browser: Number(match[1]),
      hit: Number(match[2]),
      last: match[3] === '1',
      code,
      arrivedAt: preciseNow(),
      role: 'failed',
      ok: false,
      aborted: false,
    };
    this.records.push(record);
    this.unsettled.add(record);
    res.once('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    currentHit.run(record, next);
  };

  /** The hit's outcome is known (success, failure or redirect): it no longer counts as pending. */
  settle(record: HitRecord | undefined): void {
    if (record) this.unsettled.delete(record);
  }

  get pending(): number {
    return this.unsettled.size;
  }

  /** Hands over the records collected since the last drain. */
  drain(): { records: HitRecord[]; pending: number; dropped: number } {
    const records = this.records;
    const pending = this.unsettled.size;
    const dropped = this.dropped;
    this.records = [];
    this.unsettled.clear();
    this.dropped = 0;
    return { records, pending, dropped };
  }
}
