/**
 * Distributed revocation for federated tokens: a token this issuer gave a
 * federation peer's agent is revoked here once the peer's status list says
 * the token it was traded for is not valid, or once the federation file no
 * longer trusts the peer for the agent's domain — so that verifiers reading
 * this issuer's status list, offline, see it too, not only introspection
 * here. serve runs it every minute (a peer's list is held for its `ttl`).
 */
import { auditEvent } from "./audit.ts";
import type { AppDeps } from "./context.ts";

export const PEER_REVOCATIONS_INTERVAL_MS = 60_000;

/**
 * Revokes what the peers revoked, or no longer vouch for; returns how many.
 * A list out of reach is asked once per run (its other tokens wait for the
 * next); `signal` ends the run between tokens (serve's shutdown).
 */
export async function mirrorPeerRevocations(
  deps: AppDeps,
  signal?: AbortSignal,
): Promise<number> {
  let revoked = 0;
  const outOfReach = new Set<string>();
  for (const token of await deps.store.listFederatedTokens(deps.now())) {
    if (signal?.aborted) break;
    const list = `${token.peer} ${token.status.status_list.uri}`;
    if (outOfReach.has(list)) continue;
    const now = deps.now();
    const standing = await deps.federation.standing(token, now);
    // Out of reach: asked again at the next run (introspection here
    // answers inactive meanwhile).
    if (standing === "unreachable") outOfReach.add(list);
    if (standing === "stands" || standing === "unreachable") continue;
    const reason = standing === "untrusted"
      ? `the federation file no longer trusts ${token.peer} for ${token.domain}`
      : `revoked at ${token.peer}`;
    try {
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
    } catch (error) {
      deps.log({
        level: "error",
        msg: "a peer's revocation was not mirrored",
        jti: token.jti,
        error: String(error),
      });
    }
  }
  if (revoked > 0) deps.statusLists.revoked();
  return revoked;
}
