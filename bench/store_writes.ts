/**
 * The token path's SQLite time, without HTTP or crypto: batches of
 * `recordIssuance` (the store's real write: replay entry + token + audit
 * entry) through the real group commit on our schema and PRAGMAs, with WAL
 * frames counted per commit. `cpuUsPerToken` is the process's CPU time (the
 * WAL's fdatasync thread included); `usPerToken` is wall time, which with the
 * sync includes waiting for the disk. `--no-sync` leaves the fdatasync out
 * (the server runs it off the event loop): what is left is the event loop's
 * share. With `--sweep N` it then stores N expired replay entries and times
 * `sweep()`, with the longest gap of a 1 ms timer meanwhile (how long the
 * event loop was held). Used for the before/after figures in bench/README.md.
 *
 *   deno run --allow-read --allow-write --allow-env bench/store_writes.ts [--batch 13] [--batches 4000] [--no-sync] [--sweep N] [--dir D]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { newTokenId } from "../src/core/access_token.ts";
import { randomToken } from "../src/core/encoding.ts";
import { SqliteStore } from "../src/store/sqlite.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "13" },
    batches: { type: "string", default: "4000" },
    dir: {
      type: "string",
      default: new URL("./results", import.meta.url).pathname,
    },
    agents: { type: "string", default: "64" },
    "no-sync": { type: "boolean", default: false },
    sweep: { type: "string", default: "0" },
  },
});
const batch = Number(flags.batch);
const batches = Number(flags.batches);
await Deno.mkdir(flags.dir, { recursive: true });
const dir = await Deno.makeTempDir({ dir: flags.dir, prefix: "store-writes-" });
const path = `${dir}/store.db`;
const store = new SqliteStore(
  path,
  flags["no-sync"] ? { syncFile: () => Promise.resolve() } : {},
);

const now = new Date();
const operatorId = `op_${"0".repeat(32)}`;
await store.createOperator({
  id: operatorId,
  domain: "bench.example.com",
  publicJwk: { kty: "OKP", crv: "Ed25519", x: randomToken(32) },
  thumbprint: randomToken(32),
  dnsChallenge: randomToken(32),
  createdAt: now,
  verifiedAt: now,
});
const agents = await Promise.all(
  Array.from({ length: Number(flags.agents) }, async () => {
    const did = `did:agent:bench.example.com:${randomToken(16)}`;
    const publicJwk = {
      kty: "OKP" as const,
      crv: "Ed25519" as const,
      x: randomToken(32),
    };
    await store.createAgent({
      did,
      domain: "bench.example.com",
      operatorId,
      publicJwk,
      createdAt: now,
      status: "active",
    });
    // Granted, as every agent that gets tokens is: the issuance reads it.
    await store.setAgentScopes(did, ["read:payments"], now);
    return { did, publicJwk };
  }),
);

function issuance(i: number) {
  const { did, publicJwk } = agents[i % agents.length]!;
  const at = new Date();
  const jti = newTokenId(at);
  return store.recordIssuance(
    {
      jti,
      clientId: did,
      domain: "bench.example.com",
      audience: "https://api.example.com",
      scope: "read:payments",
      issuedAt: at,
      expiresAt: new Date(at.getTime() + 900_000),
    },
    {
      at,
      actor: did,
      action: "token.issue",
      target: jti,
      outcome: "success",
      reason: "read:payments",
    },
    {
      jti: randomToken(16),
      clientId: did,
      expiresAt: new Date(at.getTime() + 150_000),
    },
    publicJwk,
  );
}

const walSize = async () => (await Deno.stat(`${path}-wal`)).size;
const FRAME = 4096 + 24;
let cpuUs = 0;
let wallMs = 0;
let frames = 0;
let framesCounted = 0;
let n = 0;
for (let b = 0; b < batches; b++) {
  const before = await walSize();
  const cpu = process.cpuUsage();
  const start = performance.now();
  // Submitted in one turn: the group commit makes them one transaction.
  await Promise.all(Array.from({ length: batch }, () => issuance(n++)));
  wallMs += performance.now() - start;
  const used = process.cpuUsage(cpu);
  cpuUs += used.user + used.system;
  const grown = await walSize() - before;
  // A restarted WAL does not grow: count only commits that appended.
  if (grown > 0) {
    frames += grown / FRAME;
    framesCounted++;
  }
}
const sweep = await timeSweep(Number(flags.sweep));
await store.close();
await Deno.remove(dir, { recursive: true });
const tokens = batch * batches;
console.log(
  JSON.stringify({
    batch,
    batches,
    sync: !flags["no-sync"],
    usPerToken: +(wallMs * 1000 / tokens).toFixed(1),
    cpuUsPerToken: +(cpuUs / tokens).toFixed(1),
    walFramesPerCommit: +(frames / Math.max(1, framesCounted)).toFixed(1),
    ...sweep,
  }),
);

/** Stores `count` expired replay entries, then sweeps them while a 1 ms timer watches the event loop. */
async function timeSweep(count: number) {
  if (count === 0) return {};
  const expired = new Date(Date.now() - 1_000);
  for (let i = 0; i < count; i += 1_000) {
    await Promise.all(
      Array.from(
        { length: Math.min(1_000, count - i) },
        () =>
          store.consumeSingleUse({
            clientId: agents[0]!.did,
            jti: randomToken(16),
            expiresAt: expired,
          }),
      ),
    );
  }
  let longestGapMs = 0;
  let last = performance.now();
  const watch = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
  }, 1);
  const start = performance.now();
  const swept = await store.sweep(new Date());
  const sweepMs = performance.now() - start;
  clearInterval(watch);
  return {
    swept,
    sweepMs: +sweepMs.toFixed(0),
    longestEventLoopGapMs: +longestGapMs.toFixed(1),
  };
}
