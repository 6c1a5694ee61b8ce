/**
 * auth4agent as a library, for agents that obtain tokens and resource servers
 * that verify them.
 *
 * ```ts
 * import { IssuerClient, TokenVerifier, importPrivateKeyPem } from "./mod.ts";
 *
 * // An agent: challenge → signed proof → scoped token.
 * const issuer = new IssuerClient("http://localhost:8080");
 * const { privateKey } = await importPrivateKeyPem(await Deno.readTextFile("keys/agent.key"));
 * const { access_token } = await issuer.issueToken(did, privateKey, { scope: "read:payments", audience: "api.example.com" });
 *
 * // A resource server: offline verification against the issuer's JWKS.
 * const verifier = new TokenVerifier(issuer);
 * const claims = await verifier.verify(access_token, { audience: "api.example.com", scopes: ["read:payments"] });
 * // …or straight from a request, Bearer or DPoP-bound (RFC 9449) alike:
 * const caller = await verifier.verifyRequest(request, { audience: "api.example.com" });
 * ```
 */
export { IssuerClient, IssuerError } from "./src/client/issuer_client.ts";
export type {
  Challenge,
  DnsRecord,
  OperatorStatus,
  ServerMetadata,
  Signer,
  TokenRequest,
  TokenResponse,
} from "./src/client/issuer_client.ts";
export { TokenVerifier } from "./src/client/verifier.ts";
export type {
  CachedJwks,
  JwksCache,
  TokenVerifierOptions,
  VerifyOptions,
} from "./src/client/verifier.ts";
export { TrustedIssuers } from "./src/client/trusted_issuers.ts";
export type { RequestVerifyOptions } from "./src/client/request_token.ts";
export {
  type AccessTokenClaims,
  type ActorClaim,
  verifyAccessToken,
} from "./src/core/access_token.ts";
export {
  CLIENT_ASSERTION_TYPE,
  createClientAssertion,
} from "./src/core/client_assertion.ts";
export { didForKey, parseAgentDid } from "./src/core/did.ts";
export {
  type Confirmation,
  createDpopProof,
  DPOP_HEADER,
  DPOP_SCHEME,
} from "./src/core/dpop.ts";
export { Auth4AgentError, type ErrorCode } from "./src/core/errors.ts";
export {
  type Ed25519PublicJwk,
  generateKeyPair,
  importPrivateKeyPem,
  thumbprint,
} from "./src/core/keys.ts";
