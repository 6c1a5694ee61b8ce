/**
 * Latency histograms as the load generator keeps them — buckets of 1% width
 * on a log scale, `[round(100·ln(µs)), count]` pairs — merged across
 * repetitions and read as percentiles (at most 1% off), plus small helpers.
 */
import type { CellResult } from "./load.ts";

export type Histogram = [bucket: number, count: number][];

export function mergeHistograms(histograms: Histogram[]): Histogram {
  const merged = new Map<number, number>();
  for (const histogram of histograms) {
    for (const [bucket, count] of histogram) {
      merged.set(bucket, (merged.get(bucket) ?? 0) + count);
    }
  }
  return [...merged.entries()];
}

/** The q-quantile (0 < q ≤ 1) in milliseconds; NaN for an empty histogram. */
export function percentile(histogram: Histogram, q: number): number {
  const sorted = [...histogram].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return NaN;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (const [bucket, count] of sorted) {
    seen += count;
    if (seen >= rank) return Math.exp(bucket / 100) / 1000;
  }
  return Math.exp(sorted[sorted.length - 1]![0] / 100) / 1000;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One (server, flow, concurrency) over its repetitions. */
export interface Aggregate {
  server: string;
  flow: string;
  concurrency: number;
  reps: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  windowS: number;
  /** Successful samples per second over all repetitions' windows. */
  perSecond: number;
  /** Each repetition's figure, in run order (A B A B). */
  perSecondByRep: number[];
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Server CPU per successful sample, µs (flow a: per token). */
  serverCpuUsPerOp: number;
  serverCores: number;
  serverPeakRssMb: number;
  generatorCores: number;
  /** Flow (a): the generator's signing time as a share of its CPU time. */
  generatorSignShare: number;
  poolExhausted: boolean;
}

export function aggregate(cells: CellResult[]): Aggregate {
  const first = cells[0]!;
  const sum = (pick: (cell: CellResult) => number) =>
    cells.reduce((total, cell) => total + pick(cell), 0);
  const windowS = sum((c) => c.windowS);
  const ok = sum((c) => c.ok);
  const histogram = mergeHistograms(cells.map((c) => c.histogram));
  const failures: Record<string, number> = {};
  for (const cell of cells) {
    for (const [status, count] of Object.entries(cell.failures)) {
      failures[status] = (failures[status] ?? 0) + count;
    }
  }
  const generatorCpuMs = sum((c) => c.generatorCpuMs);
  return {
    server: first.server,
    flow: first.flow,
    concurrency: first.concurrency,
    reps: cells.length,
    ok,
    failed: sum((c) => c.failed),
    failures,
    windowS,
    perSecond: windowS > 0 ? ok / windowS : 0,
    perSecondByRep: cells.map((c) => c.perSecond),
    p50Ms: percentile(histogram, 0.50),
    p95Ms: percentile(histogram, 0.95),
    p99Ms: percentile(histogram, 0.99),
    serverCpuUsPerOp: ok > 0 ? sum((c) => c.serverCpuMs) * 1000 / ok : NaN,
    serverCores: windowS > 0 ? sum((c) => c.serverCpuMs) / (windowS * 1000) : 0,
    serverPeakRssMb: Math.max(...cells.map((c) => c.serverPeakRssMb)),
    generatorCores: windowS > 0 ? generatorCpuMs / (windowS * 1000) : 0,
    generatorSignShare: generatorCpuMs > 0
      ? sum((c) => c.signMs) / generatorCpuMs
      : 0,
    poolExhausted: cells.some((c) => c.poolExhausted),
  };
}
