/**
 * Distributed revocation for federated tokens: a token this issuer gave a
 * federation peer's agent is revoked here once the peer's status list says
 * the token it was traded for is not valid, or once the federation file no
 * longer trusts the peer for the agent's domain — so that verifiers reading
 * this issuer's status list, offline, see it too, not only introspection
 * here. serve runs it every minute (a peer's list is held for its `ttl`).
 */
import { Auth4AgentError } from "../core/errors.ts";
import { auditEvent } from "./audit.ts";
import type { AppDeps } from "./context.ts";

export const PEER_REVOCATIONS_INTERVAL_MS = 60_000;

/** Revokes what the peers revoked, or no longer vouch for; returns how many. */
export async function mirrorPeerRevocations(deps: AppDeps): Promise<number> {
  const now = deps.now();
  let revoked = 0;
  for (const token of await deps.store.listFederatedTokens(now)) {
    const reason = await whyRevoked(deps, token, now);
    if (reason === undefined) continue;
    const done = await deps.store.revokeToken(
      token.jti,
      { at: now, by: token.peer, reason },
      auditEvent(deps, {
        actor: token.peer,
        action: "token.revoke",
        target: token.jti,
        reason,
      }),
    );
    if (done) revoked++;
  }
  if (revoked > 0) deps.statusLists.revoked();
  return revoked;
}

/** Why the token is to be revoked now; undefined: it stands, or cannot be told yet. */
async function whyRevoked(
  deps: AppDeps,
  token: { peer: string; domain: string; status: unknown },
  now: Date,
): Promise<string | undefined> {
  const peer = deps.federation.peer(token.peer);
  if (!peer?.domains.includes(token.domain)) {
    return `the federation file no longer trusts ${token.peer} for ${token.domain}`;
  }
  try {
    await deps.federation.statusLists.requireUnrevoked(
      token.peer,
      token.status,
      now,
    );
    return undefined;
  } catch (error) {
    if (!(error instanceof Auth4AgentError)) throw error;
    // Out of reach: asked again at the next run (introspection here answers
    // inactive meanwhile); anything else is the list's word.
    if (error.code === deps.federation.issuers.role.unreachable) {
      return undefined;
    }
    return `revoked at ${token.peer}`;
  }
}
