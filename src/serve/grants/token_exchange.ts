/**
 * `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693),
 * for delegation: an agent trades a delegation of ours (a token with
 * `may_act` naming it, RFC 8693 §4.4, typed apart from access tokens) for an
 * access token to act for the delegation's subject — `sub` the subject, `act`
 * the actor (§4.1), `client_id` the actor. The actor is the authenticated
 * client (no `actor_token`). A delegated token never holds more than the
 * delegation, than the subject's grant now, or than the actor's own grant,
 * never outlives the delegation, and cannot be passed on; revoking the
 * delegation, or suspending the subject or the actor, revokes it (store.ts).
 */
import { DELEGATION_TYP } from "../../core/access_token.ts";
import { fail } from "../../core/errors.ts";
import { parseScopeParam } from "../../core/scope.ts";
import type { AgentStanding } from "../../store/store.ts";
import { type AppDeps, endpointUrl, PATHS } from "../context.ts";
import { requireString } from "../http.ts";
import { findIssuedToken, type IssuedToken } from "../issued_tokens.ts";
import {
  attestersOf,
  requireVerifiedOperator,
  resolveAudience,
  resolveLifetime,
  type TokenPlan,
} from "./token_request.ts";

export const TOKEN_EXCHANGE_GRANT =
  "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 8693 §3: what we issue, and the subject token types we take (ours are JWTs). */
export const ACCESS_TOKEN_TYPE =
  "urn:ietf:params:oauth:token-type:access_token";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const TOKEN_TYPES = [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE];

export async function tokenExchange(
  client: AgentStanding,
  params: Map<string, string>,
  deps: AppDeps,
): Promise<TokenPlan> {
  checkTokenTypes(params);
  const actor = client.agent.did;
  requireVerifiedOperator(client.agent, client.operator);
  const subjectToken = await findSubjectToken(params, deps);
  const { claims } = subjectToken;
  if (claims.may_act?.sub !== actor) {
    fail(
      "ERR_NOT_DELEGATED",
      `the subject token does not let ${actor} act for ${claims.sub} (its may_act names ${
        claims.may_act?.sub ?? "nobody"
      })`,
    );
  }
  const subject = await deps.store.getAgentStanding(claims.sub);
  if (!subject || subject.agent.status !== "active") {
    fail(
      "ERR_SUBJECT_TOKEN_INVALID",
      `the subject token's agent ${claims.sub} is not active`,
    );
  }
  const domain = requireVerifiedOperator(subject.agent, subject.operator);
  const scopes = delegatedScopes(
    params.get("scope"),
    parseScopeParam(claims.scope),
    subject,
    client,
  );
  return {
    subject: claims.sub,
    domain,
    scopes,
    audience: resolveAudience(params, deps),
    lifetime: resolveLifetime(params, deps),
    // Never past the delegation's expiry: it ends with it.
    notAfter: claims.exp,
    act: { sub: actor },
    parentJti: claims.jti,
    // The actor's request speaks for both: each grant's ask holds.
    attestedBy: [...attestersOf(subject), ...attestersOf(client)],
  };
}

/** RFC 8693 §2.1's type parameters: access tokens in and out; the actor is the client. */
function checkTokenTypes(params: Map<string, string>): void {
  const subjectType = requireString(params, "subject_token_type", 200);
  if (!TOKEN_TYPES.includes(subjectType)) {
    fail(
      "ERR_INVALID_REQUEST",
      `subject_token_type must be ${ACCESS_TOKEN_TYPE} or ${JWT_TOKEN_TYPE}`,
    );
  }
  if (params.has("actor_token") || params.has("actor_token_type")) {
    fail(
      "ERR_INVALID_REQUEST",
      "the actor is the authenticated client: send no actor_token",
    );
  }
  if (params.has("may_act")) {
    fail(
      "ERR_NOT_DELEGATED",
      "a delegated token cannot be passed on: the subject names each actor itself",
    );
  }
  const requested = params.get("requested_token_type");
  if (requested !== undefined && !TOKEN_TYPES.includes(requested)) {
    fail(
      "ERR_INVALID_REQUEST",
      `requested_token_type must be ${ACCESS_TOKEN_TYPE} (or ${JWT_TOKEN_TYPE})`,
    );
  }
}

/** A live delegation of ours, for this token endpoint: signed, unexpired, recorded, unrevoked. */
async function findSubjectToken(
  params: Map<string, string>,
  deps: AppDeps,
): Promise<IssuedToken> {
  const token = requireString(params, "subject_token", 16_384, {
    opaque: true,
  });
  const found = await findIssuedToken(token, deps, { typ: DELEGATION_TYP });
  if (!found) {
    // An access token is no delegation, whoever holds it.
    const accessToken = await findIssuedToken(token, deps);
    fail(
      accessToken ? "ERR_NOT_DELEGATED" : "ERR_SUBJECT_TOKEN_INVALID",
      accessToken
        ? "the subject token is an access token, not a delegation (ask the subject for one with may_act)"
        : "the subject token is malformed, expired, or not a delegation this issuer signed",
    );
  }
  if (found.record.revokedAt) {
    fail("ERR_SUBJECT_TOKEN_INVALID", "the delegation is revoked");
  }
  const tokenEndpoint = endpointUrl(deps, PATHS.token);
  if (found.claims.aud !== tokenEndpoint) {
    fail(
      "ERR_SUBJECT_TOKEN_INVALID",
      `the delegation's audience is not this token endpoint (${tokenEndpoint})`,
    );
  }
  return found;
}

/**
 * Deny by default, at every link: each scope asked for must be in the subject
 * token, granted to the subject now, and granted to the actor. Without
 * `scope`, all scopes that pass.
 */
function delegatedScopes(
  asked: string | undefined,
  held: string[],
  subject: AgentStanding,
  actor: AgentStanding,
): string[] {
  const subjectGrant = new Set(subject.grant?.scopes ?? []);
  const actorGrant = new Set(actor.grant?.scopes ?? []);
  const refusal = (scope: string): string | undefined => {
    if (!held.includes(scope)) return "is not in the subject token";
    if (!subjectGrant.has(scope)) {
      return `is no longer granted to ${subject.agent.did}`;
    }
    if (!actorGrant.has(scope)) return `is not granted to ${actor.agent.did}`;
    return undefined;
  };
  if (asked === undefined) {
    const scopes = held.filter((scope) => refusal(scope) === undefined);
    if (scopes.length === 0) {
      fail(
        "ERR_SCOPE_NOT_GRANTED",
        `no scope of the subject token is granted to both ${subject.agent.did} and ${actor.agent.did}`,
      );
    }
    return scopes;
  }
  const scopes = parseScopeParam(asked);
  for (const scope of scopes) {
    const why = refusal(scope);
    if (why) {
      fail("ERR_SCOPE_NOT_GRANTED", `scope ${JSON.stringify(scope)} ${why}`);
    }
  }
  return scopes;
}
