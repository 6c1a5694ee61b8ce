/**
 * Seeds an issuer database with many agents and issued tokens, to measure
 * the server's memory on a database of realistic size (bench/rss.ts).
 *
 *   deno run --allow-read --allow-write --allow-env bench/seed.ts \
 *     --db FILE [--agents 100000] [--tokens 1000000]
 *
 * For speed it does not go through HTTP: `SqliteStore` (src/store/sqlite.ts)
 * creates the schema (its migrations) and the verified operator, and the
 * bulk rows — agents with real Ed25519 keys and DIDs, their grants, issued
 * tokens and the audit chain of their issuance (valid hashes, so
 * `auth4agent audit verify` holds) — are inserted with the store's own
 * INSERT statements on a second connection, 10,000 rows per transaction.
 * Replay-cache rows are not seeded: serve sweeps them a minute after their
 * assertion expires.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { didForKey } from "../src/core/did.ts";
import { generateKeyPair, thumbprint } from "../src/core/keys.ts";
import { auditHash, GENESIS_HASH } from "../src/store/audit_chain.ts";
import { SqliteStore } from "../src/store/sqlite.ts";
import type { AuditEvent } from "../src/store/store.ts";
import { type Agent, DOMAIN, SCOPE } from "./ours.ts";

const BATCH = 10_000;

export interface SeedResult {
  db: string;
  operatorId: string;
  agents: number;
  tokens: number;
  seconds: number;
  dbMb: number;
  /** The first `keep` agents, with their private keys, for a load on the seeded server. */
  kept: Agent[];
}

export async function seedDatabase(
  options: {
    db: string;
    agents: number;
    tokens: number;
    keep?: number;
    log?: (line: string) => void;
  },
): Promise<SeedResult> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const now = new Date();

  // Schema and the operator through the store itself.
  const store = new SqliteStore(options.db);
  const operatorKey = await generateKeyPair();
  const operatorId = `op_${randomBytes(16).toString("hex")}`;
  await store.createOperator({
    id: operatorId,
    domain: DOMAIN,
    publicJwk: operatorKey.publicJwk,
    thumbprint: await thumbprint(operatorKey.publicJwk),
    dnsChallenge: randomBytes(32).toString("base64url"),
    createdAt: now,
    verifiedAt: now,
  });
  await store.close();

  const db = new DatabaseSync(options.db);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  const insertAgent = db.prepare(
    "INSERT INTO agents (did, domain, operator_id, public_jwk, created_at, status) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const insertGrant = db.prepare(
    "INSERT INTO grants (did, scopes, updated_at) VALUES (?, ?, ?) ON CONFLICT (did) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
  );
  const insertToken = db.prepare(
    "INSERT INTO tokens (jti, client_id, domain, audience, scope, issued_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const insertAudit = db.prepare(
    "INSERT INTO audit (seq, at, actor, action, target, outcome, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const lastAudit = db.prepare(
    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
  ).get() as { seq: number; hash: string } | undefined;

  const inBatches = (count: number, row: (i: number) => void) => {
    for (let start = 0; start < count; start += BATCH) {
      db.exec("BEGIN IMMEDIATE");
      try {
        for (let i = start; i < Math.min(count, start + BATCH); i++) row(i);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    }
  };

  // Agents: real keys, DIDs derived from them.
  const dids: string[] = [];
  const kept: Agent[] = [];
  const keep = options.keep ?? 0;
  const agentRows: { did: string; jwk: string }[] = [];
  for (let i = 0; i < options.agents; i++) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const x = publicKey.export({ format: "jwk" }).x!;
    const publicJwk = { kty: "OKP" as const, crv: "Ed25519" as const, x };
    const did = await didForKey(DOMAIN, publicJwk);
    dids.push(did);
    agentRows.push({ did, jwk: JSON.stringify(publicJwk) });
    if (i < keep) {
      const pem = privateKey.export({ format: "pem", type: "pkcs8" })
        .toString();
      const der = privateKey.export({ format: "der", type: "pkcs8" });
      kept.push({
        clientId: did,
        publicJwk,
        pkcs8Pem: pem,
        privateKey: await crypto.subtle.importKey(
          "pkcs8",
          new Uint8Array(der),
          { name: "Ed25519" },
          false,
          ["sign"],
        ),
      });
    }
  }
  inBatches(options.agents, (i) => {
    const row = agentRows[i]!;
    insertAgent.run(
      row.did,
      DOMAIN,
      operatorId,
      row.jwk,
      now.getTime(),
      "active",
    );
    insertGrant.run(row.did, JSON.stringify([SCOPE]), now.getTime());
  });
  log(`seeded ${options.agents} agents`);

  // Tokens issued over the last hour, and their audit chain.
  let seq = lastAudit ? Number(lastAudit.seq) : 0;
  let prevHash = lastAudit ? String(lastAudit.hash) : GENESIS_HASH;
  const span = 3_600_000;
  inBatches(options.tokens, (i) => {
    const did = dids[i % dids.length]!;
    const jti = randomBytes(16).toString("base64url");
    const issuedAt = now.getTime() - span +
      Math.floor(i * span / options.tokens);
    insertToken.run(
      jti,
      did,
      DOMAIN,
      "https://api.example.com",
      SCOPE,
      issuedAt,
      issuedAt + 900_000,
      null,
    );
    const event: AuditEvent = {
      at: new Date(issuedAt),
      actor: did,
      action: "token.issue",
      target: jti,
      outcome: "success",
      reason: SCOPE,
    };
    seq++;
    const hash = auditHash(prevHash, event, seq);
    insertAudit.run(
      seq,
      issuedAt,
      did,
      event.action,
      jti,
      event.outcome,
      SCOPE,
      prevHash,
      hash,
    );
    prevHash = hash;
    if ((i + 1) % 200_000 === 0) log(`seeded ${i + 1} tokens`);
  });
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  const size = (await Deno.stat(options.db)).size;
  return {
    db: options.db,
    operatorId,
    agents: options.agents,
    tokens: options.tokens,
    seconds: (performance.now() - started) / 1000,
    dbMb: size / 1024 / 1024,
    kept,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      db: { type: "string" },
      agents: { type: "string", default: "100000" },
      tokens: { type: "string", default: "1000000" },
    },
  });
  if (!values.db) {
    console.error(
      "usage: bench/seed.ts --db FILE [--agents N] [--tokens M]",
    );
    Deno.exit(2);
  }
  const result = await seedDatabase({
    db: values.db,
    agents: Number(values.agents),
    tokens: Number(values.tokens),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify({ ...result, kept: undefined }));
}
