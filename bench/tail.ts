/**
 * Where a cell's latency tail comes from, read from the trace the load
 * generator writes with `deno task bench --trace` (each timed operation's
 * start and latency). Prints, per trace file:
 * - p50 / p99 from the exact samples;
 * - how bursty the answers are: the time covered by gaps longer than
 *   `--gap` ms between two consecutive answers, and the longest gaps;
 * - whether slow operations (over `--slow` ms, the p99 target by
 *   default) come alone or together: of the `--window` ms windows that hold
 *   any, how many hold at least as many as there are connections (the whole
 *   server stalled, not one unlucky request).
 *
 *   deno run --allow-read bench/tail.ts [--gap 2] [--slow 10] [--window 50] [--top 10] TRACE.json…
 */
import { parseArgs } from "node:util";

interface Trace {
  flow: string;
  concurrency: number;
  windowS: number;
  /** start ms (after the window opened), latency ms, … */
  ops: number[];
}

const { values: flags, positionals: files } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    gap: { type: "string", default: "2" },
    slow: { type: "string", default: "10" },
    window: { type: "string", default: "50" },
    top: { type: "string", default: "10" },
  },
});
const gapMs = Number(flags.gap);
const slowMs = Number(flags.slow);
const windowMs = Number(flags.window);
const top = Number(flags.top);
if (files.length === 0 || ![gapMs, slowMs, windowMs, top].every((n) => n > 0)) {
  console.error(
    "usage: bench/tail.ts [--gap MS] [--slow MS] [--window MS] [--top N] TRACE.json…",
  );
  Deno.exit(2);
}

const at = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const fixed = (n: number) => n.toFixed(1);

for (const file of files) {
  const trace: Trace = JSON.parse(await Deno.readTextFile(file));
  const starts: number[] = [];
  const latencies: number[] = [];
  for (let i = 0; i + 1 < trace.ops.length; i += 2) {
    starts.push(trace.ops[i]!);
    latencies.push(trace.ops[i + 1]!);
  }
  if (latencies.length === 0) {
    console.log(`${file}: no operations`);
    continue;
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const answers = starts.map((start, i) => start + latencies[i]!)
    .sort((a, b) => a - b);
  const gaps = answers.slice(1).map((end, i) => ({
    at: answers[i]!,
    ms: end - answers[i]!,
  }));
  const long = gaps.filter((gap) => gap.ms > gapMs);
  const covered = long.reduce((sum, gap) => sum + gap.ms, 0);

  const slowPerWindow = new Map<number, number>();
  starts.forEach((start, i) => {
    if (latencies[i]! <= slowMs) return;
    const window = Math.floor(start / windowMs);
    slowPerWindow.set(window, (slowPerWindow.get(window) ?? 0) + 1);
  });
  const slow = [...slowPerWindow.values()];
  const stalls = slow.filter((n) => n >= trace.concurrency).length;

  console.log(
    `${file}\n  flow (${trace.flow}), ${trace.concurrency} connections: ${latencies.length} operations in ${
      trace.windowS.toFixed(1)
    } s; p50 ${fixed(at(sorted, 0.5))} ms, p99 ${
      fixed(at(sorted, 0.99))
    } ms, max ${fixed(sorted.at(-1)!)} ms`,
  );
  console.log(
    `  answers: gaps over ${gapMs} ms between two answers cover ${
      (covered / 1000).toFixed(2)
    } s of the window (${long.length} gaps); the longest:`,
  );
  for (const gap of [...gaps].sort((a, b) => b.ms - a.ms).slice(0, top)) {
    console.log(`    at ${fixed(gap.at)} ms: ${fixed(gap.ms)} ms`);
  }
  console.log(
    `  slow (over ${slowMs} ms): ${
      slow.reduce((a, b) => a + b, 0)
    } operations (${
      (100 * slow.reduce((a, b) => a + b, 0) / latencies.length).toFixed(1)
    }%) in ${slow.length} of ${
      Math.ceil(trace.windowS * 1000 / windowMs)
    } windows of ${windowMs} ms; ${stalls} of those windows had at least ${trace.concurrency} (every connection slow at once)`,
  );
}
