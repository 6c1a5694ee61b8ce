/**
 * Server memory on a seeded database: seed (bench/seed.ts), start the real
 * server on that file pinned to the server CPU, put a short load on it —
 * flow (b) then flow (c), each assertion by the next of all the seeded agents
 * (up to 100k) — and read its RSS and peak RSS (VmHWM) from /proc.
 */
import { runCell } from "./load.ts";
import { RESOURCE, SCOPE, startOurServer } from "./ours.ts";
import { tokensToIntrospect } from "./preflight.ts";
import { memory } from "./procs.ts";
import { seedDatabase } from "./seed.ts";
import { startDnsServer } from "../tests/helpers/dns_server.ts";

export interface RssResult {
  agents: number;
  tokens: number;
  full: boolean;
  seedSeconds: number;
  dbMb: number;
  idleRssMb: number;
  afterLoadRssMb: number;
  peakRssMb: number;
  load: {
    flow: string;
    concurrency: number;
    seconds: number;
    ok: number;
    failed: number;
    perSecond: number;
  }[];
}

const MAX_LOAD_AGENTS = 100_000;

export async function benchSeededRss(
  options: {
    agents: number;
    tokens: number;
    full: boolean;
    serverCpu?: number;
    loadCpu?: number;
    tmpDir: string;
    loadSeconds: number;
    log: (line: string) => void;
  },
): Promise<RssResult> {
  const db = `${options.tmpDir}/seeded.db`;
  options.log(
    `seeding ${options.agents} agents and ${options.tokens} tokens…`,
  );
  // Every seeded agent (up to 100k) may make the load's requests, so the
  // server's per-client memory — imported keys, cached standings, rate-limit
  // buckets — fills to its bounds, as it would with that many agents active.
  const seed = await seedDatabase({
    db,
    agents: options.agents,
    tokens: options.tokens,
    keep: Math.min(options.agents, MAX_LOAD_AGENTS),
  });
  const dns = await startDnsServer();
  const server = await startOurServer({
    db,
    cpu: options.serverCpu,
    dnsServer: dns.address,
    // Rate limiting on, as `deno task serve` has it (a bucket per client is
    // memory too), at a rate this load never reaches.
    extraArgs: ["--rate-limit", "1000000"],
  });
  try {
    const port = Number(String(server.info.address).split(":").pop());
    const issuer = String(server.info.issuer);
    const idle = await memory(server.pid);
    const target = {
      name: "auth4agent",
      pid: server.pid,
      port,
      audience: issuer,
      tokenPath: "/oauth/token",
      introspectPath: "/oauth/introspect",
    };
    const load: RssResult["load"] = [];
    const tokens = await tokensToIntrospect(
      {
        name: "auth4agent",
        origin: `http://127.0.0.1:${port}`,
        issuer,
        tokenPath: target.tokenPath,
        introspectPath: target.introspectPath,
        jwksPath: "/.well-known/jwks.json",
      },
      seed.kept,
      { scope: SCOPE, resource: RESOURCE },
      64,
    );
    for (const flow of ["b", "c"] as const) {
      const cell = await runCell({
        target,
        flow,
        concurrency: 32,
        rep: 1,
        warmupS: 0.5,
        durationS: options.loadSeconds,
        // Enough for 20,000 tokens/s, but no more than two per agent: a long
        // load reaches every agent without presigning millions.
        poolSize: Math.min(
          Math.ceil(20_000 * (options.loadSeconds + 0.5)),
          2 * seed.kept.length,
        ),
        agents: seed.kept,
        scope: SCOPE,
        resource: RESOURCE,
        tokens,
        loadCpu: options.loadCpu,
        tmpDir: options.tmpDir,
        keepPeak: true,
      });
      load.push({
        flow,
        concurrency: 32,
        seconds: cell.windowS,
        ok: cell.ok,
        failed: cell.failed,
        perSecond: cell.perSecond,
      });
    }
    const after = await memory(server.pid);
    return {
      agents: options.agents,
      tokens: options.tokens,
      full: options.full,
      seedSeconds: seed.seconds,
      dbMb: seed.dbMb,
      idleRssMb: idle.rssMb,
      afterLoadRssMb: after.rssMb,
      peakRssMb: after.peakMb,
      load,
    };
  } finally {
    await server.stop();
    await dns.close();
  }
}
