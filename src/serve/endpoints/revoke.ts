/**
 * `POST /oauth/revoke` (RFC 7009). An agent revokes the tokens it holds and
 * those delegated to act for it; a verified operator any token of its domain.
 * Revoking a token revokes the tokens delegated from it. Unknown, expired or malformed
 * tokens get 200 as the RFC asks (a token expired less than the verifiers'
 * clock leeway ago is still revoked); a token held by someone else is
 * refused.
 */
import { DELEGATION_TYP } from "../../core/access_token.ts";
import { CLOCK_LEEWAY_SECONDS } from "../../core/jws.ts";
import { fail } from "../../core/errors.ts";
import { audit, auditEvent } from "../audit.ts";
import { authenticateClient } from "../client_auth.ts";
import { type AppDeps, PATHS } from "../context.ts";
import {
  empty,
  json,
  optionalString,
  readForm,
  requireString,
} from "../http.ts";
import { findIssuedToken } from "../issued_tokens.ts";

export async function revokeEndpoint(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const params = await readForm(request);
  const client = await authenticateClient(request, params, deps, PATHS.revoke);
  const token = requireString(params, "token", 16_384, {
    opaque: true,
  });
  // token_type_hint is only a hint (RFC 7009 §2.1): we issue access tokens only.
  // An expired token needs no revocation: like unknown ones, it gets 200.
  // An access token, or a delegation its subject takes back — also just
  // past its exp, while verifiers allowing for clock skew still take it.
  const found = await findIssuedToken(token, deps, {
    expiryLeeway: CLOCK_LEEWAY_SECONDS,
  }) ?? await findIssuedToken(token, deps, {
    typ: DELEGATION_TYP,
    expiryLeeway: CLOCK_LEEWAY_SECONDS,
  });
  if (!found) return empty(); // RFC 7009 §2.2: the status says it all
  const mayRevoke = client.kind === "agent"
    ? client.id === found.claims.client_id || client.id === found.claims.sub
    : client.operator.verifiedAt !== undefined &&
      client.operator.domain === found.record.domain;
  if (!mayRevoke) {
    await audit(deps, {
      actor: client.id,
      action: "token.revoke",
      target: found.claims.jti,
      outcome: "denied",
      reason: "ERR_NOT_TOKEN_HOLDER",
    });
    fail(
      "ERR_NOT_TOKEN_HOLDER",
      "only the token's agent (its holder or, delegated, its subject) or its operator may revoke it",
    );
  }
  // `reason` is our extension (RFC 7009 §2.1 lets servers take more parameters).
  const reason = optionalString(params, "reason", 200);
  await deps.store.revokeToken(
    found.claims.jti,
    { at: deps.now(), by: client.id, reason },
    auditEvent(deps, {
      actor: client.id,
      action: "token.revoke",
      target: found.claims.jti,
      reason,
    }),
  );
  deps.statusLists.revoked();
  return json({ revoked: true, jti: found.claims.jti });
}
