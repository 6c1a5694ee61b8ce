/** The claims of an access token for tests that sign their own: an hour-long token of one agent. */
import type { AccessTokenClaims } from "../../src/core/access_token.ts";
import { nowSeconds } from "../../src/core/jws.ts";

export const TEST_AGENT_DID =
  "did:agent:agents.example.com:0123456789abcdef0123456789abcdef";

export function testClaims(
  iss: string,
  now: Date,
  changes: Partial<AccessTokenClaims> = {},
): AccessTokenClaims {
  const iat = nowSeconds(now);
  return {
    iss,
    sub: TEST_AGENT_DID,
    aud: "https://api.example.com",
    scope: "read",
    client_id: TEST_AGENT_DID,
    iat,
    exp: iat + 3600,
    jti: "t1",
    domain: "agents.example.com",
    ...changes,
  };
}
