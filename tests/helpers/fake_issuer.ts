/**
 * What an issuer answers to the client's discovery, for tests that stand a
 * fake issuer behind `fetch`: its JWKS at `/jwks`, its RFC 8414 metadata at
 * any other path.
 */
import type { Jwks } from "../../src/client/issuer_client.ts";

export function issuerAnswer(
  issuer: string,
  input: string | URL | Request,
  jwks: Jwks,
): Response {
  const path = new URL(input instanceof Request ? input.url : input).pathname;
  return path === "/jwks" ? Response.json(jwks) : Response.json({
    issuer,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}/jwks`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
  });
}
