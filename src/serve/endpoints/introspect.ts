/**
 * `POST /oauth/introspect` (RFC 7662). The caller authenticates as a client
 * (agent or operator, private_key_jwt). A token is active only when it is
 * ours, unexpired, unrevoked and its agent is active; otherwise the answer
 * is `{"active": false}` without saying why.
 */
import { authenticateClient } from "../client_auth.ts";
import { type AppDeps, PATHS } from "../context.ts";
import { json, readForm, requireString } from "../http.ts";
import { findIssuedToken } from "../issued_tokens.ts";

export async function introspectEndpoint(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const params = await readForm(request);
  await authenticateClient(params, deps, PATHS.introspect);
  const token = requireString(params, "token", 16_384);
  const found = await findIssuedToken(token, deps);
  if (!found || found.record.revokedAt) return json({ active: false });
  const agent = await deps.store.getAgent(found.claims.sub);
  if (!agent || agent.status !== "active") return json({ active: false });
  const { claims } = found;
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
    token_type: "Bearer",
    domain: claims.domain,
  });
}
