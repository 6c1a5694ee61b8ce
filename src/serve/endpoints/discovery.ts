/** Discovery (RFC 8414), the JWKS (RFC 7517), the issuer's did:web document, and health. */
import { ATTESTATION_ALGS } from "../../core/client_attestation.ts";
import { DPOP_ALGS } from "../../core/dpop.ts";
import { issuerDidDocument } from "../../core/did_document.ts";
import { ACCEPTED_ALGS, JWKS_MAX_AGE_SECONDS } from "../../core/jws.ts";
import { type AppDeps, endpointUrl, PATHS } from "../context.ts";
import { json } from "../http.ts";
import { grantTypes } from "./token.ts";

const PUBLIC_CACHE = {
  "Cache-Control": `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
};

export function metadataEndpoint(deps: AppDeps): Response {
  const auth = {
    methods: ["private_key_jwt"],
    algs: [...ACCEPTED_ALGS],
  };
  return json(
    {
      issuer: deps.issuer,
      token_endpoint: endpointUrl(deps, PATHS.token),
      jwks_uri: endpointUrl(deps, PATHS.jwks),
      introspection_endpoint: endpointUrl(deps, PATHS.introspect),
      revocation_endpoint: endpointUrl(deps, PATHS.revoke),
      grant_types_supported: grantTypes(deps),
      response_types_supported: [],
      token_endpoint_auth_methods_supported: auth.methods,
      token_endpoint_auth_signing_alg_values_supported: auth.algs,
      introspection_endpoint_auth_methods_supported: auth.methods,
      introspection_endpoint_auth_signing_alg_values_supported: auth.algs,
      revocation_endpoint_auth_methods_supported: auth.methods,
      revocation_endpoint_auth_signing_alg_values_supported: auth.algs,
      // RFC 9449 §5.1: tokens are bound to a DPoP key when a proof comes.
      dpop_signing_alg_values_supported: [...DPOP_ALGS],
      // Where agents ask for a token challenge (our extension), and for a
      // client attestation PoP's challenge (the attestation draft's §6.3).
      challenge_endpoint: endpointUrl(deps, PATHS.challenges),
      ...attestationMetadata(deps),
    },
    200,
    PUBLIC_CACHE,
  );
}

export function jwksEndpoint(deps: AppDeps): Response {
  return json(deps.keys.jwks(deps.now()), 200, {
    ...PUBLIC_CACHE,
    "Content-Type": "application/jwk-set+json",
  });
}

/** `GET /.well-known/did.json`: the issuer as a did:web DID with its signing keys. */
export function didWebEndpoint(deps: AppDeps): Response {
  return json(
    issuerDidDocument(deps.issuer, deps.keys.jwks(deps.now()).keys),
    200,
    {
      ...PUBLIC_CACHE,
      "Content-Type": "application/did+json",
    },
  );
}

export async function healthEndpoint(deps: AppDeps): Promise<Response> {
  let database = "ok";
  try {
    await deps.store.ping();
  } catch {
    database = "unreachable";
  }
  const healthy = database === "ok";
  return json(
    {
      status: healthy ? "ok" : "unhealthy",
      version: deps.version,
      database,
      time: deps.now().toISOString(),
    },
    healthy ? 200 : 503,
  );
}

/**
 * Client attestation (draft-ietf-oauth-attestation-based-client-auth §8),
 * where the server trusts an attester: taken beside the agent's own client
 * authentication as an additional signal (§7.6), never instead of it, so
 * the token endpoint's auth methods stay as they are; "none" since only
 * grants that ask for one need it.
 */
function attestationMetadata(deps: AppDeps): Record<string, unknown> {
  if (deps.clientAttesters.issuers.length === 0) return {};
  return {
    client_attestation_signing_alg_values_supported: [...ATTESTATION_ALGS],
    client_attestation_pop_signing_alg_values_supported: [...ATTESTATION_ALGS],
    client_attestation_pop_methods_supported: ["attestation_pop_jwt", "none"],
  };
}
