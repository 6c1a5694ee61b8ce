/**
 * `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693),
 * for delegation: an agent trades a token of ours whose `may_act` names it
 * (RFC 8693 §4.4) for a token that lets it act for that token's subject —
 * `sub` the subject, `act` the actor chain (§4.1), `client_id` the actor.
 * The actor is the authenticated client (no `actor_token`). A delegated token
 * never holds more than its subject token, than the subject's grant now, or
 * than the actor's own grant, and never outlives its subject token; revoking
 * the subject token, or suspending the subject or an actor, revokes it
 * (store.ts).
 */
import {
  type ActorClaim,
  delegationDepth,
  MAX_DELEGATION_DEPTH,
} from "../../core/access_token.ts";
import { fail } from "../../core/errors.ts";
import { nowSeconds } from "../../core/jws.ts";
import { parseScopeParam } from "../../core/scope.ts";
import type { AgentStanding } from "../../store/store.ts";
import type { AppDeps } from "../context.ts";
import { requireString } from "../http.ts";
import { findIssuedToken, type IssuedToken } from "../issued_tokens.ts";
import {
  requireVerifiedOperator,
  resolveAudience,
  resolveLifetime,
  resolveMayAct,
  type TokenPlan,
} from "./token_request.ts";

export const TOKEN_EXCHANGE_GRANT =
  "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 8693 §3: what we issue, and the subject token types we take (ours are JWTs). */
export const ACCESS_TOKEN_TYPE =
  "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
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
  const act: ActorClaim = claims.act
    ? { sub: actor, act: claims.act }
    : { sub: actor };
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
  const audience = resolveAudience(params, deps);
  const mayAct = await resolveMayAct(params, claims.sub, audience, deps);
  if (mayAct !== undefined && delegationDepth(act) >= MAX_DELEGATION_DEPTH) {
    fail(
      "ERR_NOT_DELEGATED",
      `a delegation chain holds at most ${MAX_DELEGATION_DEPTH} actors: this token cannot be delegated further`,
    );
  }
  // Never past the subject token's expiry: the delegation ends with it.
  const left = claims.exp - nowSeconds(deps.now());
  return {
    subject: claims.sub,
    domain,
    scopes,
    audience,
    lifetime: Math.min(resolveLifetime(params, deps), left),
    act,
    parentJti: claims.jti,
    mayAct,
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
  const requested = params.get("requested_token_type");
  if (requested !== undefined && !TOKEN_TYPES.includes(requested)) {
    fail(
      "ERR_INVALID_REQUEST",
      `requested_token_type must be ${ACCESS_TOKEN_TYPE} (or ${JWT_TOKEN_TYPE})`,
    );
  }
}

/** An active token of ours for this issuer: signed, unexpired, recorded, unrevoked. */
async function findSubjectToken(
  params: Map<string, string>,
  deps: AppDeps,
): Promise<IssuedToken> {
  const token = requireString(params, "subject_token", 16_384, {
    opaque: true,
  });
  const found = await findIssuedToken(token, deps);
  if (!found) {
    fail(
      "ERR_SUBJECT_TOKEN_INVALID",
      "the subject token is malformed, expired, or not one this issuer signed",
    );
  }
  if (found.record.revokedAt) {
    fail("ERR_SUBJECT_TOKEN_INVALID", "the subject token is revoked");
  }
  if (found.claims.aud !== deps.issuer) {
    fail(
      "ERR_SUBJECT_TOKEN_INVALID",
      `the subject token's audience is not this issuer (${deps.issuer})`,
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
