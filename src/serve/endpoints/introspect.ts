/**
 * `POST /oauth/introspect` (RFC 7662). The caller authenticates as a client
 * (agent or operator, private_key_jwt). A token is active only when it is
 * ours, unexpired, unrevoked and its agent is active (a federation peer's
 * agent: its peer still trusted for its domain); otherwise the answer
 * is `{"active": false}` without saying why. Only callers whose domain is
 * verified may introspect (RFC 7662 §4: no token scanning by strangers).
 */
import { DPOP_SCHEME } from "../../core/dpop.ts";
import { fail } from "../../core/errors.ts";
import { authenticateClient } from "../client_auth.ts";
import { type AppDeps, PATHS } from "../context.ts";
import { json, readForm, requireString } from "../http.ts";
import { findIssuedToken } from "../issued_tokens.ts";

export async function introspectEndpoint(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const params = await readForm(request);
  const caller = await authenticateClient(
    request,
    params,
    deps,
    PATHS.introspect,
  );
  // An agent's operator comes with it (clients.ts).
  if (!caller.operator.verifiedAt) {
    fail(
      "ERR_OPERATOR_NOT_VERIFIED",
      "introspection is open to agents and operators of verified domains only",
    );
  }
  const token = requireString(params, "token", 16_384, {
    opaque: true,
  });
  const found = await findIssuedToken(token, deps);
  if (!found || found.record.revokedAt) return json({ active: false });
  const { claims } = found;
  if (claims.federation) {
    // A peer's agent has no standing here: the peer's word stands for it
    // (a list that cannot be had: inactive).
    const { iss: peer, status } = claims.federation;
    const standing = await deps.federation.standing(
      { peer, domain: claims.domain, status },
      deps.now(),
    );
    if (standing !== "stands") return json({ active: false });
  } else {
    // Its subject and, delegated, its holder: both still active.
    if (!await isActive(claims.sub, deps)) return json({ active: false });
    if (
      claims.client_id !== claims.sub &&
      !await isActive(claims.client_id, deps)
    ) {
      return json({ active: false });
    }
  }
  return json({
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
    token_type: claims.cnf ? DPOP_SCHEME : "Bearer",
    domain: claims.domain,
    // RFC 9449 §6.2: a bound token's key, for the resource server to check.
    ...(claims.cnf && { cnf: claims.cnf }),
    ...(claims.attestation && { attestation: claims.attestation }),
    ...(claims.federation && { federation: { iss: claims.federation.iss } }),
    // RFC 8693 §4.1, §4.4: delegation shows in introspection as in the token.
    ...(claims.act && { act: claims.act }),
    ...(claims.may_act && { may_act: claims.may_act }),
  });
}

async function isActive(did: string, deps: AppDeps): Promise<boolean> {
  // The standing, not getAgent: the SQLite store keeps it between requests.
  const agent = (await deps.store.getAgentStanding(did))?.agent;
  return agent?.status === "active";
}
