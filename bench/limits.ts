/**
 * Runs the `deno bench` files (limits_bench.ts, verify_bench.ts) pinned to
 * one CPU with `--json`, and turns their figures into the single-core
 * ceilings the load figures are compared with.
 */
import { pinned, run } from "./procs.ts";

export interface BenchFigure {
  name: string;
  group: string;
  /** Mean time per iteration, µs. */
  avgUs: number;
  perSecond: number;
  p99Us: number;
  n: number;
}

export async function denoBench(
  file: string,
  options: { cpu?: number; tmpDir: string },
): Promise<BenchFigure[]> {
  const command = pinned(options.cpu, Deno.execPath(), [
    "bench",
    "--quiet",
    "--json",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    new URL(file, import.meta.url).pathname,
  ]);
  const { stdout } = await run(command.cmd, command.args, {
    env: { BENCH_TMP_DIR: options.tmpDir, NO_COLOR: "1" },
  });
  const report = JSON.parse(stdout.slice(stdout.indexOf("{")));
  const figures: BenchFigure[] = [];
  for (const bench of report.benches) {
    const ok = bench.results?.[0]?.ok;
    if (!ok) throw new Error(`deno bench ${bench.name} failed`);
    figures.push({
      name: bench.name,
      group: bench.group ?? "",
      avgUs: ok.avg / 1000,
      perSecond: 1e9 / ok.avg,
      p99Us: ok.p99 / 1000,
      n: ok.n,
    });
  }
  return figures;
}

export interface Ceiling {
  id: string;
  /** The flow whose per-token work this bounds. */
  flow: "a" | "b";
  /** What is summed, in words. */
  parts: string;
  /** µs per token, on one core. */
  usPerToken: number;
  tokensPerSecond: number;
}

function find(figures: BenchFigure[], pattern: RegExp): number {
  const figure = figures.find((f) => pattern.test(f.name));
  if (!figure) throw new Error(`no bench figure matches ${pattern}`);
  // A "×N" figure does the work of N tokens per iteration.
  return figure.avgUs / Number(/×(\d+)/.exec(figure.name)?.[1] ?? 1);
}

/** The group size of the "×N" figures (32: the target concurrency). */
export function groupSize(figures: BenchFigure[]): number {
  return Number(
    /×(\d+)/.exec(figures.find((f) => /×\d+/.test(f.name))?.name ?? "")?.[1] ??
      1,
  );
}

/**
 * The single-core ceilings: per token, one client-assertion verify + one
 * access-token sign + the SQLite writes the token must make. The headline
 * ceiling of each flow is an upper bound for a server that groups the
 * commits of concurrent requests (as serve does): the fastest Ed25519 path
 * measured, and the token's INSERTs with one fsync shared by the 32 tokens
 * that 32 connections can have in flight. The others show what each choice
 * costs.
 */
export function ceilings(figures: BenchFigure[]): Ceiling[] {
  const signWeb = find(figures, /^ed25519 sign \(WebCrypto\)/);
  const signNode = find(figures, /^ed25519 sign \(node:crypto\)/);
  const verifyWeb = find(figures, /^ed25519 verify \(WebCrypto\)/);
  const verifyNode = find(figures, /^ed25519 verify \(node:crypto\)/);
  const joseSign = find(figures, /^jose SignJWT/);
  const joseVerify = find(figures, /^jose jwtVerify/);
  const writes = (what: string, sync: "FULL" | "NORMAL") =>
    find(figures, new RegExp(`^sqlite: ${what}.*, ${sync}$`));
  const n = groupSize(figures);
  const sign = Math.min(signWeb, signNode);
  const verify = Math.min(verifyWeb, verifyNode);
  // The fastest path measured for each, named in the headline.
  const fastest = `verify (${
    verify === verifyNode ? "node:crypto" : "WebCrypto"
  }) + sign (${sign === signNode ? "node:crypto" : "WebCrypto"})`;
  const make = (
    id: string,
    flow: "a" | "b",
    parts: string,
    us: number,
  ): Ceiling => ({
    id,
    flow,
    parts,
    usPerToken: us,
    tokensPerSecond: 1e6 / us,
  });
  return [
    make(
      "b-headline",
      "b",
      `${fastest} + 3 INSERTs, ${n} tokens per commit, FULL`,
      verify + sign + writes(`token writes ×${n}`, "FULL"),
    ),
    make(
      "b-commit-per-token",
      "b",
      "verify + sign + 3 INSERTs, 1 commit per token, FULL",
      verify + sign + writes("token writes, 1 transaction", "FULL"),
    ),
    make(
      "b-autocommit",
      "b",
      "verify + sign + 3 autocommits, FULL",
      verify + sign + writes("token writes \\(", "FULL"),
    ),
    make(
      "b-jose",
      "b",
      `jose jwtVerify + SignJWT (WebCrypto) + 3 INSERTs, ${n} per commit, FULL`,
      joseVerify + joseSign + writes(`token writes ×${n}`, "FULL"),
    ),
    make(
      "b-normal",
      "b",
      `verify + sign + 3 INSERTs, ${n} per commit, NORMAL (not durable)`,
      verify + sign + writes(`token writes ×${n}`, "NORMAL"),
    ),
    make("b-crypto-only", "b", "verify + sign, no writes", verify + sign),
    make(
      "a-headline",
      "a",
      `verify + sign + challenge INSERT, consume + 2 INSERTs, ${n} per commit, FULL`,
      verify + sign + writes(`flow \\(a\\) writes ×${n}`, "FULL"),
    ),
    make(
      "a-commit-per-token",
      "a",
      "verify + sign + the same writes, 2 commits per token, FULL",
      verify + sign + writes("flow \\(a\\) writes \\(", "FULL"),
    ),
  ];
}
