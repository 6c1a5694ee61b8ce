/**
 * The physical limit, single core (`taskset -c CPU deno bench --json`, run
 * by bench/run.ts): what one token must cost at least.
 *
 * - Ed25519 sign and verify of a JWS signing input the size of an access
 *   token, through WebCrypto and through node:crypto side by side.
 * - jose `SignJWT` / `jwtVerify` with EdDSA (WebCrypto keys, as src/ uses).
 * - The SQLite writes a token makes — its single use appended to
 *   `replay_log` (and, once per transaction, the log's counter moved on),
 *   one INSERT into `tokens`, one into `audit` — on a file with the schema of
 *   src/store/migrations.ts and the PRAGMAs of src/store/sqlite.ts (WAL,
 *   synchronous=FULL), as three autocommits, in one transaction per token,
 *   and 32 tokens' writes in one transaction (group commit: one fsync for
 *   the 32 tokens that 32 connections can have in flight; divided by 32 in
 *   the report); synchronous=NORMAL for comparison. Flow (a)'s writes too:
 *   the challenge INSERT (its own request), then the challenge
 *   DELETE…RETURNING with the token and audit INSERTs — per token and
 *   grouped by 32.
 *
 * The database files go to $BENCH_TMP_DIR (same file system as the server's
 * database in a bench run), else a fresh temporary folder.
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import * as jose from "jose";
import { MIGRATIONS } from "../src/store/migrations.ts";

const enc = new TextEncoder();

// ---- keys and a realistic message ----
const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
  "sign",
  "verify",
]) as CryptoKeyPair;
const pkcs8 = new Uint8Array(
  await crypto.subtle.exportKey("pkcs8", pair.privateKey),
);
const nodePrivate = createPrivateKey({
  key: Buffer.from(pkcs8),
  format: "der",
  type: "pkcs8",
});
const nodePublic = createPublicKey(nodePrivate);

const DID = "did:agent:bench.example.com:0123456789abcdef0123456789abcdef";
const ISSUER = "http://127.0.0.1:8080";
const AUDIENCE = "https://api.example.com";
const claims = () => {
  const iat = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    sub: DID,
    aud: AUDIENCE,
    scope: "read:payments",
    client_id: DID,
    iat,
    exp: iat + 900,
    jti: randomBytes(16).toString("base64url"),
    domain: "bench.example.com",
    // Every token names its status list entry (src/core/status_list.ts).
    status: {
      status_list: { idx: 4102, uri: `${ISSUER}/oauth/status-lists/0` },
    },
  };
};
const token = await new jose.SignJWT(claims())
  .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: "bench" })
  .sign(pair.privateKey);
const [h, p, s] = token.split(".") as [string, string, string];
const message = enc.encode(`${h}.${p}`);
const signature = Buffer.from(s, "base64url");
const webSignature = new Uint8Array(
  await crypto.subtle.sign("Ed25519", pair.privateKey, message),
);

Deno.bench({
  name: "ed25519 sign (WebCrypto)",
  group: "ed25519-sign",
  baseline: true,
  async fn() {
    await crypto.subtle.sign("Ed25519", pair.privateKey, message);
  },
});
Deno.bench({
  name: "ed25519 sign (node:crypto)",
  group: "ed25519-sign",
  fn() {
    nodeSign(null, message, nodePrivate);
  },
});
Deno.bench({
  name: "ed25519 verify (WebCrypto)",
  group: "ed25519-verify",
  baseline: true,
  async fn() {
    if (
      !await crypto.subtle.verify(
        "Ed25519",
        pair.publicKey,
        webSignature,
        message,
      )
    ) throw new Error("bad signature");
  },
});
Deno.bench({
  name: "ed25519 verify (node:crypto)",
  group: "ed25519-verify",
  fn() {
    if (!nodeVerify(null, message, nodePublic, signature)) {
      throw new Error("bad signature");
    }
  },
});
Deno.bench({
  name: "jose SignJWT EdDSA (access token)",
  group: "jwt",
  async fn() {
    await new jose.SignJWT(claims())
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: "bench" })
      .sign(pair.privateKey);
  },
});
Deno.bench({
  name: "jose jwtVerify EdDSA (access token)",
  group: "jwt",
  async fn() {
    await jose.jwtVerify(token, pair.publicKey, {
      algorithms: ["EdDSA"],
      typ: "at+jwt",
      issuer: ISSUER,
      audience: AUDIENCE,
    });
  },
});

// ---- SQLite ----
const dir = Deno.env.get("BENCH_TMP_DIR") ??
  await Deno.makeTempDir({ prefix: "auth4agent-limits-" });
const tag = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
const databases: { db: DatabaseSync; path: string }[] = [];
globalThis.addEventListener("unload", () => {
  for (const { db, path } of databases) {
    db.close();
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(path + suffix);
      } catch { /* already gone */ }
    }
  }
});

function open(synchronous: "FULL" | "NORMAL") {
  const path = `${dir}/limits-${synchronous}-${databases.length}-${tag}.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${synchronous}`);
  db.exec("PRAGMA foreign_keys = ON");
  for (const migration of MIGRATIONS) db.exec(migration);
  databases.push({ db, path });
  let seq = 0;
  let replaySeq = 0;
  // The single use as src/store/replay_log.ts writes it: an append, judged
  // in memory (not a write), the counter moved once per transaction.
  const replay = db.prepare(
    "INSERT INTO replay_log (seq, client_id, jti, expires_at) VALUES (?, ?, ?, ?)",
  );
  const replayNext = db.prepare("UPDATE replay_log_next SET next = ?");
  const tokens = db.prepare(
    "INSERT INTO tokens (jti, client_id, domain, audience, scope, issued_at, expires_at, revoked_at, status_idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const audit = db.prepare(
    "INSERT INTO audit (seq, at, actor, action, target, outcome, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const challenge = db.prepare(
    "INSERT INTO challenges (nonce, kind, subject, expires_at) VALUES (?, ?, ?, ?)",
  );
  const consume = db.prepare(
    "DELETE FROM challenges WHERE nonce = ? AND kind = ? AND subject = ? AND expires_at > ? RETURNING nonce, kind, subject, expires_at",
  );
  const hash = "ab".repeat(32);
  let statusIdx = 0;
  return {
    replay: (jti: string) =>
      replay.run(++replaySeq, DID, jti, Date.now() + 90_000).changes === 1,
    replayCounter: () => replayNext.run(replaySeq + 1),
    token: (jti: string) =>
      tokens.run(
        jti,
        DID,
        "bench.example.com",
        AUDIENCE,
        "read:payments",
        Date.now(),
        Date.now() + 900_000,
        null,
        ++statusIdx,
      ),
    audit: (jti: string) =>
      audit.run(
        ++seq,
        Date.now(),
        DID,
        "token.issue",
        jti,
        "success",
        "read:payments",
        hash,
        hash,
      ),
    challenge: (nonce: string) =>
      challenge.run(nonce, "token_challenge", DID, Date.now() + 120_000),
    consume: (nonce: string) =>
      consume.get(nonce, "token_challenge", DID, Date.now()),
    exec: (sql: string) => db.exec(sql),
  };
}

const jti = () => randomBytes(16).toString("base64url");
/** Tokens per transaction in the group-commit figure (the issue's p99 target is at 32 connections). */
const GROUP = 32;

/** One token's writes: its replay entry, its token row, its audit entry. */
function tokenWrites(db: ReturnType<typeof open>): void {
  const id = jti();
  if (!db.replay(id)) throw new Error("duplicate jti");
  db.token(jti());
  db.audit(id);
}

/** Flow (a)'s second request: consume the challenge, then the token's rows. */
function challengeWrites(db: ReturnType<typeof open>, nonce: string): void {
  if (!db.consume(nonce)) throw new Error("challenge not found");
  db.token(jti());
  db.audit(nonce);
}

/** `work` in one transaction; `singleUses`: it appended to the replay log, whose counter then moves. */
function transaction(
  db: ReturnType<typeof open>,
  work: () => void,
  singleUses = false,
): void {
  db.exec("BEGIN IMMEDIATE");
  work();
  if (singleUses) db.replayCounter();
  db.exec("COMMIT");
}

for (const synchronous of ["FULL", "NORMAL"] as const) {
  const group = `sqlite-${synchronous.toLowerCase()}`;
  const one = open(synchronous);
  Deno.bench({
    name: `sqlite: 1 autocommit INSERT (replay log), ${synchronous}`,
    group,
    fn() {
      one.replay(jti());
    },
  });
  const auto = open(synchronous);
  Deno.bench({
    name:
      `sqlite: token writes (replay+token+audit), 3 autocommits, ${synchronous}`,
    group,
    baseline: true,
    fn() {
      tokenWrites(auto);
    },
  });
  const txn = open(synchronous);
  Deno.bench({
    name: `sqlite: token writes, 1 transaction, ${synchronous}`,
    group,
    fn() {
      transaction(txn, () => tokenWrites(txn), true);
    },
  });
  const grouped = open(synchronous);
  Deno.bench({
    name:
      `sqlite: token writes ×${GROUP}, 1 transaction (group commit), ${synchronous}`,
    group,
    fn() {
      transaction(grouped, () => {
        for (let i = 0; i < GROUP; i++) tokenWrites(grouped);
      }, true);
    },
  });
  const challenge = open(synchronous);
  Deno.bench({
    name:
      `sqlite: flow (a) writes (challenge; consume+token+audit), 2 transactions, ${synchronous}`,
    group,
    fn() {
      const nonce = jti();
      challenge.challenge(nonce);
      transaction(challenge, () => challengeWrites(challenge, nonce));
    },
  });
  const challenges = open(synchronous);
  Deno.bench({
    name:
      `sqlite: flow (a) writes ×${GROUP}, 2 transactions (group commit), ${synchronous}`,
    group,
    fn() {
      const nonces = Array.from({ length: GROUP }, jti);
      transaction(challenges, () => {
        for (const nonce of nonces) challenges.challenge(nonce);
      });
      transaction(challenges, () => {
        for (const nonce of nonces) challengeWrites(challenges, nonce);
      });
    },
  });
}
