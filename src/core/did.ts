/**
 * The `did:agent` method: `did:agent:<domain>:<32 lowercase hex>`, where the
 * hex is the first 16 bytes of SHA-256 of the agent's raw Ed25519 public key.
 * The identifier is self-certifying: anyone holding the key can check that it
 * belongs to the DID (see docs/did-method.md).
 */
import { parseDomain } from "./domain.ts";
import { hex, sha256 } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import { type Ed25519PublicJwk, rawPublicKey } from "./keys.ts";

const DID_AGENT = /^did:agent:([^:]+):([0-9a-f]{32})$/;

export interface AgentDid {
  did: string;
  domain: string;
  id: string;
}

export function parseAgentDid(input: string): AgentDid {
  if (typeof input !== "string" || input.length > 300) {
    fail("ERR_INVALID_DID", "DID is missing or too long");
  }
  const match = DID_AGENT.exec(input);
  if (!match) {
    fail(
      "ERR_INVALID_DID",
      `${
        JSON.stringify(input)
      } is not a did:agent DID (did:agent:<domain>:<32 lowercase hex>)`,
    );
  }
  let domain: string;
  try {
    domain = parseDomain(match[1]!);
  } catch (cause) {
    // Any malformed DID is ERR_INVALID_DID (resolvers map it to invalidDid).
    throw new Auth4AgentError(
      "ERR_INVALID_DID",
      `the DID's domain is invalid: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (domain !== match[1]) {
    fail(
      "ERR_INVALID_DID",
      "the DID's domain must be lowercase without a trailing dot",
    );
  }
  return { did: input, domain, id: match[2]! };
}

export async function agentIdFromKey(jwk: Ed25519PublicJwk): Promise<string> {
  return hex((await sha256(rawPublicKey(jwk))).slice(0, 16));
}

export async function didForKey(
  domain: string,
  jwk: Ed25519PublicJwk,
): Promise<string> {
  return `did:agent:${parseDomain(domain)}:${await agentIdFromKey(jwk)}`;
}

/** True when the DID's identifier is derived from this public key. */
export async function didMatchesKey(
  did: AgentDid,
  jwk: Ed25519PublicJwk,
): Promise<boolean> {
  return did.id === await agentIdFromKey(jwk);
}
