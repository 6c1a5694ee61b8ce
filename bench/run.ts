/**
 * `deno task bench`: issue #5's benchmark, end to end — see bench/README.md.
 *
 *   deno task bench [--duration 5] [--warmup 1] [--reps 2]
 *     [--concurrency 1,16,32,64] [--flows a,b,c] [--agents 64]
 *     [--cli-runs 15] [--full-seed | --seed-agents N --seed-tokens M]
 *     [--server-cpu 0] [--load-cpu 1] [--no-pin]
 *     [--skip peer,limits,cli,rss,floor]
 *     [--tmp-dir DIR] [--keep-tmp] [--out bench/results] [--trace]
 */
import { parseArgs } from "node:util";
import { benchCli, type CliTiming } from "./cli.ts";
import { type BenchFigure, ceilings, denoBench } from "./limits.ts";
import { type CellJob, type CellResult, type Flow, runCell } from "./load.ts";
import {
  type Agent,
  REPO,
  RESOURCE,
  SCOPE,
  SERVE_PERMISSIONS,
  setUpOurs,
} from "./ours.ts";
import { installPeer, OPAQUE_RESOURCE, startPeer } from "./peer.ts";
import {
  type Preflight,
  preflight,
  type Target,
  tokensToIntrospect,
} from "./preflight.ts";
import {
  allowedCpus,
  hasCommand,
  pinned,
  readProc,
  run,
  startListening,
} from "./procs.ts";
import {
  addHttpFloor,
  type BenchReport,
  checkTargets,
  FLOOR,
  type HttpFloor,
  OURS,
  PEER,
  renderText,
  TARGET_CONCURRENCY,
} from "./report.ts";
import { benchSeededRss, type RssResult } from "./rss.ts";
import { aggregate } from "./stats.ts";
import { renderSvg } from "./svg.ts";

const HERE = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    reps: { type: "string", default: "2" },
    concurrency: { type: "string", default: "1,16,32,64" },
    flows: { type: "string", default: "a,b,c" },
    agents: { type: "string", default: "64" },
    "introspect-tokens": { type: "string", default: "256" },
    "presign-rate": { type: "string", default: "15000" },
    "cli-runs": { type: "string", default: "15" },
    "full-seed": { type: "boolean", default: false },
    "seed-agents": { type: "string" },
    "seed-tokens": { type: "string" },
    "rss-load": { type: "string", default: "10" },
    "server-cpu": { type: "string" },
    "load-cpu": { type: "string" },
    "no-pin": { type: "boolean", default: false },
    skip: { type: "string", default: "" },
    "tmp-dir": { type: "string" },
    "keep-tmp": { type: "boolean", default: false },
    out: { type: "string", default: `${HERE}/results` },
    trace: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log(
    (await Deno.readTextFile(`${HERE}/run.ts`)).split("*/")[0]!.replace(
      /^\/\*\*|^ \* ?/gm,
      "",
    ),
  );
  Deno.exit(0);
}

const number = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n < 0) {
    console.error(`--${name} must be a non-negative number, not ${value}`);
    Deno.exit(2);
  }
  return n;
};

const skip = new Set(flags.skip.split(",").filter(Boolean));
const durationS = number("duration", flags.duration);
const warmupS = number("warmup", flags.warmup);
const reps = number("reps", flags.reps);
const concurrency = flags.concurrency.split(",").map((c) =>
  number("concurrency", c)
);
const flows = flags.flows.split(",").filter((f): f is Flow =>
  ["a", "b", "c"].includes(f)
);
const agentCount = number("agents", flags.agents);
const introspectTokens = number(
  "introspect-tokens",
  flags["introspect-tokens"],
);
const presignRate = number("presign-rate", flags["presign-rate"]);
const cliRuns = number("cli-runs", flags["cli-runs"]);
const seedAgents = number(
  "seed-agents",
  flags["seed-agents"] ?? (flags["full-seed"] ? "100000" : "10000"),
);
const seedTokens = number(
  "seed-tokens",
  flags["seed-tokens"] ?? (flags["full-seed"] ? "1000000" : "100000"),
);

const log = (line: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

/**
 * One cell, run again with a pool 3× larger (at most twice) when its count
 * bound is reached before its time bound; failures of a discarded attempt
 * still count: nothing may fail.
 */
async function measure(job: CellJob): Promise<CellResult> {
  let poolSize = job.poolSize;
  let cell: CellResult;
  const discarded: Record<string, number> = {};
  for (let attempt = 0;; attempt++) {
    cell = await runCell({
      ...job,
      poolSize,
      traceFile: flags.trace
        ? `${flags.out}/${stamp}-trace-${job.target.name}-${job.flow}-${job.concurrency}-${job.rep}.json`
        : undefined,
    });
    if (!cell.poolExhausted || attempt >= 2) break;
    for (const [status, count] of Object.entries(cell.failures)) {
      discarded[status] = (discarded[status] ?? 0) + count;
    }
    log(
      `  the count bound (${poolSize}) was reached before the time bound: again with 3×`,
    );
    poolSize *= 3;
  }
  for (const [status, count] of Object.entries(discarded)) {
    cell.failures[status] = (cell.failures[status] ?? 0) + count;
    cell.failed += count;
  }
  log(
    `(${cell.flow}) c=${cell.concurrency} rep ${cell.rep} ${cell.server}: ${
      cell.perSecond.toFixed(0)
    }/s, p99 ${cell.p99Ms.toFixed(2)} ms, server CPU ${
      cell.serverCores.toFixed(2)
    }, failed ${cell.failed}${
      cell.failed ? " " + JSON.stringify(cell.failureSamples[0]) : ""
    }`,
  );
  return cell;
}

// ---- the machine ----
const cpus = await allowedCpus();
const pin = !flags["no-pin"] && await hasCommand("taskset") && cpus.length >= 2;
if (!flags["no-pin"] && !pin) {
  log(
    "taskset or a second CPU is missing: server and load generator are NOT pinned",
  );
}
const serverCpu = pin
  ? number("server-cpu", flags["server-cpu"] ?? String(cpus[0]))
  : undefined;
const loadCpu = pin
  ? number("load-cpu", flags["load-cpu"] ?? String(cpus[1]))
  : undefined;
if (!await hasCommand("node")) {
  console.error("node is needed for the load generator and the peer");
  Deno.exit(1);
}

const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
await Deno.mkdir(flags.out, { recursive: true });
const tmpDir = flags["tmp-dir"] ??
  await Deno.makeTempDir({ dir: flags.out, prefix: `tmp-${stamp}-` });
await Deno.mkdir(tmpDir, { recursive: true });

async function text(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args)).stdout.trim();
  } catch {
    return "?";
  }
}
const cpuModel = /model name\s*:\s*(.+)/.exec(
  await readProc("/proc/cpuinfo"),
)?.[1] ?? "?";
const machine: BenchReport["machine"] = {
  cpuModel,
  allowedCpus: cpus,
  serverCpu: serverCpu ?? null,
  loadCpu: loadCpu ?? null,
  pinned: pin,
  kernel: await text("uname", ["-r"]),
  deno: Deno.version.deno,
  node: await text("node", ["--version"]),
  loadAverage: (await readProc("/proc/loadavg")).split(" ").slice(0, 3)
    .join(" "),
  tmpDir,
  tmpFilesystem: (await text("df", ["-T", tmpDir])).split("\n")[1]
    ?.split(/\s+/).slice(0, 2).join(" ") ?? "?",
};

// ---- the limit (first, on a quiet machine) ----
let limits: BenchFigure[] = [];
let verification: BenchReport["verification"];
if (!skip.has("limits")) {
  log("deno bench: single-core limits (Ed25519, JWT, SQLite writes)…");
  limits = await denoBench("./limits_bench.ts", { cpu: serverCpu, tmpDir });
  log("deno bench: offline verification…");
  const verify = await denoBench("./verify_bench.ts", {
    cpu: serverCpu,
    tmpDir,
  });
  const verifier = verify.find((f) => f.name.startsWith("TokenVerifier"))!;
  const raw = verify.find((f) => f.name.startsWith("raw jose"))!;
  verification = { verifier, raw, ratio: verifier.perSecond / raw.perSecond };
  limits.push(...verify);
}

// ---- the servers ----
let peerVersion: string | undefined;
if (!skip.has("peer")) {
  peerVersion = await installPeer(log);
}
log(
  `starting auth4agent (SQLite file in ${tmpDir}) and registering ${agentCount} agents…`,
);
const ours = await setUpOurs({
  db: `${tmpDir}/ours.db`,
  cpu: serverCpu,
  agents: agentCount,
});
const peer = skip.has("peer") ? undefined : await startPeer({
  agents: ours.agents,
  scope: SCOPE,
  resource: RESOURCE,
  cpu: serverCpu,
  tmpDir,
  lruMaxSize: 50_000_000,
}).catch(async (error) => {
  await ours.stop();
  throw error;
});
if (peer) {
  log(
    `peer: oidc-provider ${peer.version} on Node ${peer.node} (${peerVersion})`,
  );
}

const cells: CellResult[] = [];
const preflights: Record<string, Preflight> = {};
let cli: CliTiming[] = [];
try {
  const targets: {
    name: string;
    target: Target;
    pid: number;
    port: number;
    challenge?: string;
    introspectResource: string;
  }[] = [
    {
      name: OURS,
      pid: ours.process.pid,
      port: ours.port,
      challenge: ours.paths.challenge,
      introspectResource: RESOURCE,
      target: {
        name: OURS,
        origin: `http://127.0.0.1:${ours.port}`,
        issuer: ours.issuer,
        tokenPath: ours.paths.token,
        introspectPath: ours.paths.introspect,
        jwksPath: "/.well-known/jwks.json",
      },
    },
  ];
  if (peer) {
    targets.push({
      name: PEER,
      pid: peer.process.pid,
      port: peer.port,
      introspectResource: OPAQUE_RESOURCE,
      target: {
        name: PEER,
        origin: `http://127.0.0.1:${peer.port}`,
        issuer: peer.issuer,
        tokenPath: peer.paths.token,
        introspectPath: peer.paths.introspect,
        jwksPath: "/jwks",
      },
    });
  }
  for (const t of targets) {
    preflights[t.name] = await preflight(t.target, ours.agents[0]!, {
      scope: SCOPE,
      resource: RESOURCE,
    });
    log(
      `${t.name}: token ${
        JSON.stringify(preflights[t.name]!.tokenHeader)
      } verified; a replayed assertion got ${
        preflights[t.name]!.replay.secondStatus
      }`,
    );
  }

  // ---- the load, A B A B ----
  const observed = new Map<string, number>();
  const poolFor = (server: string, flow: Flow) => {
    const seen = observed.get(`${server}/${flow}`);
    const rate = seen === undefined ? presignRate : seen * 3 + 2000;
    return Math.ceil(rate * (warmupS + durationS));
  };
  const tokens = new Map<string, string[]>();
  for (const flow of flows) {
    if (flow === "c") {
      for (const t of targets) {
        tokens.set(
          t.name,
          await tokensToIntrospect(t.target, ours.agents, {
            scope: SCOPE,
            resource: t.introspectResource,
          }, introspectTokens),
        );
      }
    }
    for (const c of concurrency) {
      for (let rep = 1; rep <= reps; rep++) {
        for (const t of targets) {
          if (flow === "a" && !t.challenge) continue;
          const cell = await measure({
            target: {
              name: t.name,
              pid: t.pid,
              port: t.port,
              audience: t.target.issuer,
              tokenPath: t.target.tokenPath,
              introspectPath: t.target.introspectPath,
              challengePath: t.challenge,
            },
            flow,
            concurrency: c,
            rep,
            warmupS,
            durationS,
            poolSize: poolFor(t.name, flow),
            agents: ours.agents,
            scope: SCOPE,
            resource: RESOURCE,
            tokens: tokens.get(t.name),
            loadCpu,
            tmpDir,
          });
          const key = `${t.name}/${flow}`;
          observed.set(key, Math.max(observed.get(key) ?? 0, cell.perSecond));
          cells.push(cell);
        }
      }
    }
  }

  // ---- the CLI ----
  if (!skip.has("cli")) {
    log(`CLI: ${cliRuns} runs of auth4agent issue…`);
    cli = await benchCli(ours, { runs: cliRuns, tmpDir });
  }
} finally {
  await peer?.stop();
  await ours.stop();
}

// ---- the HTTP floor ----
/** The floor's first pool is sized for this rate: above what one Node core drives (~25k req/s). */
const FLOOR_PRESIGN_RATE = 40_000;

/**
 * The HTTP floor (bench/floor_server.ts): Deno.serve + readForm + json and
 * nothing else, started like our server (its deno flags, pinned to the
 * server CPU), one cell of flow (b) at the concurrency nearest the
 * headline's, on a quiet core (the other servers have stopped).
 */
async function measureFloor(agents: Agent[]): Promise<HttpFloor> {
  const c = concurrency.reduce((best, x) =>
    Math.abs(x - TARGET_CONCURRENCY) < Math.abs(best - TARGET_CONCURRENCY)
      ? x
      : best
  );
  const command = pinned(serverCpu, Deno.execPath(), [
    "run",
    "--quiet",
    ...SERVE_PERMISSIONS,
    `${HERE}/floor_server.ts`,
  ]);
  const server = await startListening(command.cmd, command.args, {
    cwd: REPO,
  });
  try {
    const issuer = String(server.info.issuer);
    const port = Number(String(server.info.address).split(":").pop());
    log(
      `HTTP floor: flow (b) at c=${c} against Deno.serve + readForm + json…`,
    );
    const cell = await measure({
      target: {
        name: FLOOR,
        pid: server.pid,
        port,
        audience: issuer,
        tokenPath: "/oauth/token",
        introspectPath: "/oauth/introspect",
      },
      flow: "b",
      concurrency: c,
      rep: 1,
      warmupS,
      durationS,
      poolSize: Math.ceil(
        Math.max(presignRate, FLOOR_PRESIGN_RATE) * (warmupS + durationS),
      ),
      agents,
      scope: SCOPE,
      resource: RESOURCE,
      loadCpu,
      tmpDir,
    });
    return {
      ...aggregate([cell]),
      what:
        "Deno.serve + readForm + json (bench/floor_server.ts): flow (b)'s request and a canned token response of our shape and size, no crypto, no SQLite",
      command: [
        "deno",
        ...command.args.slice(command.args.indexOf("run")),
      ].join(" ").replace(`${REPO}/`, ""),
      accessTokenChars: Number(server.info.accessTokenChars),
      failureSamples: cell.failureSamples,
    };
  } finally {
    await server.stop();
  }
}

const floor = skip.has("floor") ? undefined : await measureFloor(ours.agents);

// ---- RSS on a seeded database ----
let rss: RssResult | undefined;
if (!skip.has("rss")) {
  rss = await benchSeededRss({
    agents: seedAgents,
    tokens: seedTokens,
    full: flags["full-seed"],
    serverCpu,
    loadCpu,
    tmpDir,
    loadSeconds: number("rss-load", flags["rss-load"]),
    log,
  });
}

// ---- the report ----
const groups = new Map<string, CellResult[]>();
for (const cell of cells) {
  const key = `${cell.flow}/${cell.concurrency}/${cell.server}`;
  groups.set(key, [...(groups.get(key) ?? []), cell]);
}
const finishedAt = new Date();
const partial: Omit<BenchReport, "targets"> = {
  startedAt: startedAt.toISOString(),
  finishedAt: finishedAt.toISOString(),
  totalSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
  machine,
  settings: {
    flows,
    concurrency,
    durationS,
    warmupS,
    reps,
    agents: agentCount,
    introspectTokens,
    cliRuns,
    seed: { agents: seedAgents, tokens: seedTokens, full: flags["full-seed"] },
  },
  peer: peer && {
    name: PEER,
    version: peer.version,
    node: peer.node,
    storage:
      "in memory: its own MemoryAdapter (replay cache of client-assertion jti, opaque tokens), given an LRU that does not evict during the run; its JWT access tokens are not stored",
    notes: [
      "oidc-provider's default MemoryAdapter is an LRU of 1,000 entries shared by all models: under load it forgets unexpired jtis (replays get through) and opaque tokens; the bench gives the same class a 50M-entry LRU",
      "flow (c) on the peer introspects opaque tokens: oidc-provider refuses to introspect its JWT access tokens",
      "oidc-provider 9 warns that Node 20 is unsupported (it wants Node 22 LTS); the machine's Node is used",
    ],
  },
  ours: {
    storage:
      "durable SQLite (WAL; each commit's WAL fdatasync'd before any answer) through the real serve",
    db: `${tmpDir}/ours.db`,
  },
  preflight: preflights,
  cells,
  aggregates: [...groups.values()].map(aggregate),
  limits,
  floor,
  ceilings: limits.length ? addHttpFloor(ceilings(limits), floor) : [],
  verification,
  cli,
  rss,
};
const report: BenchReport = { ...partial, targets: checkTargets(partial) };
const jsonFile = `${flags.out}/${stamp}.json`;
const svgFile = `${flags.out}/${stamp}.svg`;
await Deno.writeTextFile(jsonFile, JSON.stringify(report, null, 2) + "\n");
await Deno.writeTextFile(svgFile, renderSvg(report));
console.log(renderText(report));
console.log(`\nwritten: ${jsonFile}\n         ${svgFile}`);
if (!flags["keep-tmp"] && !flags["tmp-dir"]) {
  await Deno.remove(tmpDir, { recursive: true });
}
