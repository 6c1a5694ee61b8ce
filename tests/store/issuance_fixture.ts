/**
 * A migrated SQLite connection holding one active agent, and the arguments
 * of its recordIssuance writes: for tests that drive the store's writes
 * through GroupCommit directly (group_commit_test.ts, replay_log_test.ts).
 */
import type { Ed25519PublicJwk } from "../../src/core/keys.ts";
import { SqliteConnection } from "../../src/store/sqlite_connection.ts";
import type { TokenRecord } from "../../src/store/store.ts";

export const AT = new Date(Date.UTC(2026, 10, 28));
export const LATER = new Date(AT.getTime() + 900_000);
export const ISSUING_DID = "did:agent:example.com:00";
export const ISSUING_KEY: Ed25519PublicJwk = {
  kty: "OKP",
  crv: "Ed25519",
  x: "AAAA",
};

/** A migrated database at `path` (in memory unless told) holding the issuing agent. */
export function issuingConnection(path = ":memory:"): SqliteConnection {
  const c = new SqliteConnection(path);
  c.migrate();
  c.db.exec(`
    INSERT INTO operators (id, domain, public_jwk, thumbprint, dns_challenge, created_at)
      VALUES ('op_1', 'example.com', '{}', 'tp', 'dns', 0);
    INSERT INTO agents (did, domain, operator_id, public_jwk, created_at, status)
      VALUES ('${ISSUING_DID}', 'example.com', 'op_1', '${
    JSON.stringify(ISSUING_KEY)
  }', 0, 'active');
  `);
  return c;
}

export function issuedToken(jti: string): TokenRecord {
  return {
    jti,
    clientId: ISSUING_DID,
    domain: "example.com",
    audience: "https://api.example.com",
    scope: "read:payments",
    issuedAt: AT,
    expiresAt: LATER,
  };
}

/** recordIssuance's arguments: token `tokenJti`, on assertion `assertionJti`. */
export function issuance(tokenJti: string, assertionJti: string) {
  return [
    issuedToken(tokenJti),
    {
      at: AT,
      actor: ISSUING_DID,
      action: "token.issue",
      target: tokenJti,
      outcome: "success" as const,
    },
    { jti: assertionJti, clientId: ISSUING_DID, expiresAt: LATER },
    ISSUING_KEY,
  ] as const;
}
