/**
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1)
 * with a federation peer's access token (serve/federation.ts): an agent of a
 * domain the peer is trusted for here, registered at the peer, trades the
 * token the peer gave it (audience: this issuer) for a token of this issuer.
 * Nothing of the agent is registered here: the peer's word (its signature,
 * its status list) stands for the agent's standing, the administrator's
 * federation file for what this issuer grants — the token's scopes within
 * the peer's, deny by default — and the token ends when the peer's does.
 */
import type { Confirmation } from "../../core/dpop.ts";
import { fail } from "../../core/errors.ts";
import {
  FEDERATED_TOKEN,
  type FederatedClaims,
  inspectFederatedToken,
  verifyFederatedToken as verifyPeerToken,
} from "../../core/federated_token.ts";
import { parseScopeParam } from "../../core/scope.ts";
import { parseStatusClaim, type StatusClaim } from "../../core/status_list.ts";
import { requireAudience } from "../../core/workload_token.ts";
import type { AppDeps } from "../context.ts";
import { refuseClientAuthentication } from "./jwt_bearer.ts";
import type { FederationPeer } from "../federation.ts";
import {
  resolveAudience,
  resolveLifetime,
  type TokenPlan,
} from "./token_request.ts";

/** The audit action of a federated issuance. */
export const FEDERATED_ACTION = "token.federated";

export interface FederatedRequest {
  /** The peer's agent (`sub` and `client_id` of both tokens). */
  did: string;
  /** The peer that vouched for it, its token's id and status list entry. */
  peer: string;
  peerJti: string;
  peerStatus: StatusClaim;
  plan: TokenPlan;
  /** The peer's token's `exp` (seconds): this token ends by then. */
  notAfter: number;
}

/** A DID registered here asks with its own key, under its operator here. */
export function registeredHere(did: string): never {
  fail(
    "ERR_FEDERATION_NOT_TRUSTED",
    `${did} is registered at this issuer: it asks for tokens with its own key`,
  );
}

/** A peer's token, verified: whose it is, from which peer. */
export interface VerifiedFederatedToken {
  claims: FederatedClaims;
  peer: FederationPeer;
  status: unknown;
}

/**
 * Who the request is for, on the peer's signature: until this succeeds the
 * request names nobody, and its refusals are not audited.
 */
export async function verifyFederatedToken(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
): Promise<VerifiedFederatedToken> {
  refuseClientAuthentication(request, params);
  const now = deps.now();
  const token = inspectFederatedToken(params.get("assertion"));
  const peer = deps.federation.peer(token.iss);
  if (!peer) {
    fail(
      "ERR_FEDERATION_NOT_TRUSTED",
      `this issuer has no federation with ${token.iss}`,
    );
  }
  const key = await deps.federation.issuers.key(token, now);
  const claims = verifyPeerToken(token, key, { now });
  // RFC 7523 §3 item 3, and only this issuer: a token that also names
  // others could be replayed here by any of them.
  if (claims.aud.length !== 1) {
    fail(
      "ERR_FEDERATED_TOKEN_INVALID",
      "federated token must name this issuer as its only audience",
    );
  }
  requireAudience(claims, deps.issuer, FEDERATED_TOKEN);
  return { claims, peer, status: token.payload.status };
}

/** What the verified token obtains here, checked against the federation file. */
export async function federatedRequest(
  verified: VerifiedFederatedToken,
  params: Map<string, string>,
  deps: AppDeps,
  cnf: Confirmation | undefined,
): Promise<FederatedRequest> {
  const { claims, peer } = verified;
  const now = deps.now();
  if (params.has("may_act")) {
    fail(
      "ERR_INVALID_REQUEST",
      "a federated agent asks for its own tokens, not for delegations (may_act)",
    );
  }
  const clientId = params.get("client_id");
  if (clientId !== undefined && clientId !== claims.sub) {
    fail(
      "ERR_INVALID_REQUEST",
      "client_id must be the federated token's sub, or be left out",
    );
  }
  if (!peer.domains.includes(claims.domain)) {
    fail(
      "ERR_FEDERATION_NOT_TRUSTED",
      `${peer.issuer} is not trusted here to speak for agents of ${claims.domain}`,
    );
  }
  // RFC 9449 §7: a bound token is presented with a proof by its key, and
  // this issuer's token is then bound to the same key (dpopBinding).
  if (claims.jkt !== undefined && cnf?.jkt !== claims.jkt) {
    fail(
      "ERR_FEDERATED_TOKEN_INVALID",
      "the federated token is bound to a DPoP key: send a DPoP proof signed by it",
    );
  }
  if (await deps.store.getAgent(claims.sub)) registeredHere(claims.sub);
  // Charged only now, and in a budget of its own: a token of another
  // domain or peer, or for a DID registered here, spends no one's budget.
  deps.limits.perClient.take(
    `federated:${peer.issuer} ${claims.sub}`,
    now.getTime(),
  );
  await deps.federation.statusLists.requireUnrevoked(
    claims.iss,
    verified.status,
    now,
  );
  return {
    did: claims.sub,
    peer: peer.issuer,
    peerJti: claims.jti,
    // Required and checked above (requireUnrevoked): well-formed.
    peerStatus: parseStatusClaim(verified.status),
    notAfter: claims.exp,
    plan: {
      subject: claims.sub,
      domain: claims.domain,
      scopes: federatedScopes(params, claims.scopes, peer),
      audience: resolveAudience(params, deps),
      lifetime: resolveLifetime(params, deps),
      attestedBy: [],
    },
  };
}

/**
 * Deny by default: what both the peer's token holds and this issuer grants
 * the peer's agents; without a scope parameter, all of that (RFC 6749 §3.3).
 */
function federatedScopes(
  params: Map<string, string>,
  held: readonly string[],
  peer: FederationPeer,
): string[] {
  const scope = params.get("scope");
  const asked = scope === undefined ? undefined : parseScopeParam(scope);
  // Each refusal says whose grant lacks the scope: the peer's, or this one's.
  const notHeld = asked?.filter((s) => !held.includes(s)) ?? [];
  if (notHeld.length > 0) {
    fail(
      "ERR_SCOPE_NOT_GRANTED",
      `scope ${
        quoted(notHeld)
      } is not in the federated token: its issuer did not grant it`,
    );
  }
  const granted = held.filter((s) => peer.scopes.includes(s));
  if (asked === undefined && granted.length === 0) {
    fail(
      "ERR_SCOPE_NOT_GRANTED",
      `none of the federated token's scopes (${
        quoted(held)
      }) is granted here to ${peer.issuer}'s agents`,
    );
  }
  return asked === undefined
    ? granted
    : authorizeScopesHere(asked, granted, peer);
}

function authorizeScopesHere(
  asked: string[],
  granted: string[],
  peer: FederationPeer,
): string[] {
  const refused = asked.filter((s) => !granted.includes(s));
  if (refused.length > 0) {
    fail(
      "ERR_SCOPE_NOT_GRANTED",
      `scope ${quoted(refused)} is not granted here to ${peer.issuer}'s agents`,
    );
  }
  return asked;
}

const quoted = (scopes: readonly string[]) =>
  scopes.map((s) => JSON.stringify(s)).join(", ");
