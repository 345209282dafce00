/**
 * Figures of the reliability and soak tests: a small fixed-width table for the test log, percentiles, and JSON
 * artifacts under test-artifacts/ (what the README's "Reliability and security" section quotes).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './sample-process.js';

export const ARTIFACTS_DIR = join(REPO_ROOT, 'test-artifacts');

/** A markdown-style table of `rows` (columns from the first row). */
export function formatTable(rows: ReadonlyArray<Record<string, unknown>>): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(columns),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map((row) => line(columns.map((column) => String(row[column] ?? '')))),
  ].join('\n');
}

/** The p-th percentile (nearest rank) of `values`; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Rounds to `digits` decimals (for tables). */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Writes `data` as pretty JSON to test-artifacts/<name>; returns the path. */
export async function writeArtifact(name: string, data: unknown): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** Prints a titled table to the test log (stdout, so it shows in CI output). */
export function printTable(title: string, rows: ReadonlyArray<Record<string, unknown>>): void {
  process.stdout.write(`\n${title}\n${formatTable(rows)}\n`);
}
