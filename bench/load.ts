/**
 * One load cell: one flow, one server, one concurrency, one repetition.
 * Spawns the load generator (bench/loadgen.mjs under Node) pinned to the
 * load CPU; it also reads the server's CPU time and peak RSS from /proc
 * exactly at the edges of its timed window.
 */
import type { Agent } from "./ours.ts";
import { pinned, ticksPerSecond } from "./procs.ts";
import { type Histogram, percentile } from "./stats.ts";

const LOADGEN = new URL("./loadgen.mjs", import.meta.url).pathname;

export type Flow = "a" | "b" | "c";

export interface CellTarget {
  name: string;
  pid: number;
  port: number;
  audience: string;
  tokenPath: string;
  introspectPath: string;
  challengePath?: string;
}

export interface CellJob {
  target: CellTarget;
  flow: Flow;
  concurrency: number;
  rep: number;
  warmupS: number;
  durationS: number;
  poolSize: number;
  agents: Agent[];
  scope: string;
  resource: string;
  tokens?: string[];
  loadCpu?: number;
  tmpDir: string;
  /** Keep the server's lifetime VmHWM instead of resetting it for this window. */
  keepPeak?: boolean;
  /** Where the generator writes each timed operation's start and latency (bench/tail.ts reads it). */
  traceFile?: string;
}

export interface CellResult {
  server: string;
  flow: Flow;
  concurrency: number;
  rep: number;
  /** Checked, successful samples in the window (flow a: tokens, each two requests). */
  ok: number;
  /** Failed responses, warm-up included (expected 0). */
  failed: number;
  failures: Record<string, number>;
  failureSamples: { status: string; body: string }[];
  httpRequests: number;
  windowS: number;
  perSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  histogram: Histogram;
  serverCpuMs: number;
  /** Server CPU time / window: 1.0 = one core busy. */
  serverCores: number;
  serverPeakRssMb: number;
  /** True when the peak covers this window only (clear_refs worked). */
  peakIsWindowed: boolean;
  generatorCpuMs: number;
  generatorCores: number;
  /** Flow (a): generator time spent signing proofs in the window. */
  signMs: number;
  presignMs: number;
  poolSize: number;
  poolExhausted: boolean;
}

interface LoadgenResult {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  failureSamples: { status: string; body: string }[];
  httpRequests: number;
  windowS: number;
  histogram: Histogram;
  poolSize: number;
  poolExhausted: boolean;
  presignMs: number;
  signMs: number;
  generatorCpuMs: number;
  serverCpuMs: number;
  serverPeakRssMb: number;
  peakIsWindowed: boolean;
}

export async function runCell(job: CellJob): Promise<CellResult> {
  const jobFile = await Deno.makeTempFile({
    dir: job.tmpDir,
    prefix: `job-${job.target.name}-${job.flow}-${job.concurrency}-`,
    suffix: ".json",
  });
  await Deno.writeTextFile(
    jobFile,
    JSON.stringify({
      flow: job.flow,
      host: "127.0.0.1",
      port: job.target.port,
      tokenPath: job.target.tokenPath,
      introspectPath: job.target.introspectPath,
      challengePath: job.target.challengePath,
      audience: job.target.audience,
      assertionLifetimeS: 120,
      agents: job.agents.map((a) => ({
        clientId: a.clientId,
        pkcs8Pem: a.pkcs8Pem,
      })),
      scope: job.scope,
      resource: job.resource,
      tokens: job.tokens ?? [],
      concurrency: job.concurrency,
      warmupS: job.warmupS,
      durationS: job.durationS,
      poolSize: job.poolSize,
      serverPid: job.target.pid,
      clockTicks: await ticksPerSecond(),
      resetPeak: !job.keepPeak,
      traceFile: job.traceFile,
    }),
  );
  const command = pinned(job.loadCpu, "node", [LOADGEN, jobFile]);
  const child = new Deno.Command(command.cmd, {
    args: command.args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let result: LoadgenResult | undefined;
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  let buffer = "";
  for await (const chunk of lines) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const event = JSON.parse(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      if (event.event === "result") result = event;
    }
  }
  const status = await child.status;
  await Deno.remove(jobFile).catch(() => {});
  if (!status.success || !result) {
    throw new Error(
      `load generator failed (exit ${status.code}):\n${await stderr}`,
    );
  }
  await stderr;
  const serverCpuMs = result.serverCpuMs;
  const windowMs = result.windowS * 1000;
  return {
    server: job.target.name,
    flow: job.flow,
    concurrency: job.concurrency,
    rep: job.rep,
    ok: result.ok,
    failed: result.failed,
    failures: result.failures,
    failureSamples: result.failureSamples,
    httpRequests: result.httpRequests,
    windowS: result.windowS,
    perSecond: result.windowS > 0 ? result.ok / result.windowS : 0,
    p50Ms: percentile(result.histogram, 0.50),
    p95Ms: percentile(result.histogram, 0.95),
    p99Ms: percentile(result.histogram, 0.99),
    histogram: result.histogram,
    serverCpuMs,
    serverCores: windowMs > 0 ? serverCpuMs / windowMs : 0,
    serverPeakRssMb: result.serverPeakRssMb,
    peakIsWindowed: result.peakIsWindowed,
    generatorCpuMs: result.generatorCpuMs,
    generatorCores: windowMs > 0 ? result.generatorCpuMs / windowMs : 0,
    signMs: result.signMs,
    presignMs: result.presignMs,
    poolSize: result.poolSize,
    poolExhausted: result.poolExhausted,
  };
}
