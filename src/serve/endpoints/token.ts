/**
 * `POST /oauth/token` (RFC 6749 §4.4, client credentials) as a short list of
 * named steps: parse → authenticate the client (RFC 7523) → check the
 * operator → authorize scopes (deny by default) → resolve the audience → issue.
 */
import {
  type AccessTokenClaims,
  newTokenId,
  signAccessToken,
} from "../../core/access_token.ts";
import { utf8Length } from "../../core/encoding.ts";
import { Auth4AgentError, fail } from "../../core/errors.ts";
import { nowSeconds } from "../../core/jws.ts";
import {
  authorizeScopes,
  formatScope,
  parseScopeParam,
} from "../../core/scope.ts";
import { audit } from "../audit.ts";
import { replayed, verifyClient } from "../client_auth.ts";
import { requireActive } from "../clients.ts";
import type {
  AgentRecord,
  GrantRecord,
  OperatorRecord,
  SingleUse,
} from "../../store/store.ts";
import { type AppDeps, PATHS } from "../context.ts";
import { coveredByItsWrite } from "../durability.ts";
import { hasHiddenCharacters, json, readForm } from "../http.ts";

const MAX_AUDIENCE_BYTES = 512;

export async function tokenEndpoint(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const params = await readForm(request);
  checkGrantType(params);
  const { principal, singleUse } = await verifyClient(
    request,
    params,
    deps,
    PATHS.token,
  );
  if (principal.kind !== "agent") {
    // Authenticated, but not a client this grant is for (RFC 6749 §5.2).
    fail(
      "ERR_NOT_AN_AGENT",
      "only agents are issued tokens; an operator's key signs its requests to /v1",
    );
  }
  const { agent, operator, grant } = principal;
  try {
    const domain = requireVerifiedOperator(agent, operator);
    const scopes = authorize(agent, grant, params);
    const audience = resolveAudience(params, deps);
    const lifetime = resolveLifetime(params, deps);
    return await issue(
      agent,
      { domain, scopes, audience, lifetime },
      singleUse,
      deps,
    );
  } catch (error) {
    if (error instanceof Auth4AgentError) {
      await audit(deps, {
        actor: agent.did,
        action: "token.issue",
        target: agent.did,
        outcome: "denied",
        reason: error.code,
      });
    }
    throw error;
  }
}

function checkGrantType(params: Map<string, string>): void {
  const grantType = params.get("grant_type");
  if (!grantType) fail("ERR_INVALID_REQUEST", "grant_type is required");
  if (grantType !== "client_credentials") {
    fail(
      "ERR_UNSUPPORTED_GRANT_TYPE",
      `grant_type ${
        JSON.stringify(grantType)
      } is not supported (client_credentials only)`,
    );
  }
}

function requireVerifiedOperator(
  agent: AgentRecord,
  operator: OperatorRecord,
): string {
  if (!operator.verifiedAt || operator.domain !== agent.domain) {
    fail(
      "ERR_OPERATOR_NOT_VERIFIED",
      `the operator of ${agent.domain} has not verified the domain`,
    );
  }
  return operator.domain;
}

/** Deny by default: asking for anything outside the grant is `invalid_scope`. */
function authorize(
  agent: AgentRecord,
  grant: GrantRecord | undefined,
  params: Map<string, string>,
): string[] {
  const granted = grant?.scopes ?? [];
  if (granted.length === 0) {
    fail("ERR_SCOPE_NOT_GRANTED", `no scopes are granted to ${agent.did}`);
  }
  const scope = params.get("scope");
  // Without a scope parameter the agent gets its whole grant (RFC 6749 §3.3 default).
  return scope === undefined
    ? granted
    : authorizeScopes(parseScopeParam(scope), granted);
}

/** `audience` takes any string; `resource` (RFC 8707) an absolute URI; default: the issuer. */
function resolveAudience(params: Map<string, string>, deps: AppDeps): string {
  const audience = params.get("audience");
  const resource = params.get("resource");
  if (
    audience !== undefined && resource !== undefined && audience !== resource
  ) {
    fail("ERR_INVALID_REQUEST", "send audience or resource, not both");
  }
  if (resource !== undefined) {
    // Repeated `resource` values arrive joined by spaces (URIs hold none).
    const resources = new Set(resource.split(" "));
    if (resources.size > 1) {
      fail(
        "ERR_INVALID_AUDIENCE",
        "a token is issued for one resource at a time",
      );
    }
    if (!ABSOLUTE_URI.test(resource) || !URL.canParse(resource)) {
      fail(
        "ERR_INVALID_AUDIENCE",
        "resource must be an absolute URI without a fragment (RFC 8707)",
      );
    }
  }
  const value = resource?.split(" ")[0] ?? audience ?? deps.issuer;
  // Any string (DESIGN), without hidden characters (http.ts), bounded in
  // bytes: the token that carries it must stay under MAX_JWS_LENGTH.
  if (utf8Length(value) > MAX_AUDIENCE_BYTES || hasHiddenCharacters(value)) {
    fail(
      "ERR_INVALID_AUDIENCE",
      `audience must be at most ${MAX_AUDIENCE_BYTES} bytes of UTF-8, without control or format characters`,
    );
  }
  return value;
}

/**
 * RFC 3986 §4.3 absolute-URI by its characters: a scheme, then only URI
 * characters and well-formed %HH escapes, and no fragment (RFC 8707 §2). A
 * WHATWG URL parser alone would take backslashes, raw non-ASCII, a bad %zz
 * and an empty `#`.
 */
const ABSOLUTE_URI =
  /^[a-z][a-z0-9+.-]*:(?:[a-z0-9\-._~!$&'()*+,;=:@/?[\]]|%[0-9a-f]{2})*$/i;

/** `expires_in` may ask for a shorter token; the server's --token-ttl caps it. */
function resolveLifetime(params: Map<string, string>, deps: AppDeps): number {
  const asked = params.get("expires_in");
  if (asked === undefined) return deps.tokenTtl;
  if (!/^[0-9]{1,9}$/.test(asked) || Number(asked) < 1) {
    fail(
      "ERR_INVALID_REQUEST",
      "expires_in must be a positive integer of seconds",
    );
  }
  return Math.min(Number(asked), deps.tokenTtl);
}

/**
 * Signs and records the token. The challenge or jti is consumed in the same
 * write that records the token and its audit entry: one commit, durable
 * before the response (introspection and revocation depend on the record).
 */
async function issue(
  agent: AgentRecord,
  grant: {
    domain: string;
    scopes: string[];
    audience: string;
    lifetime: number;
  },
  singleUse: SingleUse,
  deps: AppDeps,
): Promise<Response> {
  const iat = nowSeconds(deps.now());
  const claims: AccessTokenClaims = {
    iss: deps.issuer,
    sub: agent.did,
    aud: grant.audience,
    scope: formatScope(grant.scopes),
    client_id: agent.did,
    iat,
    exp: iat + grant.lifetime,
    jti: newTokenId(deps.now()),
    domain: grant.domain,
  };
  const outcome = await deps.store.recordIssuance(
    {
      jti: claims.jti,
      clientId: agent.did,
      domain: grant.domain,
      audience: grant.audience,
      scope: claims.scope,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(claims.exp * 1000),
    },
    {
      at: deps.now(),
      actor: agent.did,
      action: "token.issue",
      target: claims.jti,
      outcome: "success",
      reason: claims.scope,
    },
    singleUse,
    agent.publicJwk,
  );
  if (outcome === "replayed") replayed(singleUse);
  if (outcome === "rotated") {
    fail(
      "ERR_BAD_SIGNATURE",
      "the agent's key was rotated while this request was in flight; sign with the new key",
    );
  }
  // Suspended or revoked while this request was in flight.
  if (outcome !== "recorded") requireActive({ ...agent, status: outcome });
  const accessToken = await signAccessToken(
    claims,
    deps.keys.signingKey(deps.now()),
  );
  // Everything read for this token was read before the write that recorded
  // it, and that write is durable: no need to wait for later commits.
  return coveredByItsWrite(json(
    {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: grant.lifetime,
      scope: claims.scope,
    },
    200,
    { Pragma: "no-cache" },
  ));
}
