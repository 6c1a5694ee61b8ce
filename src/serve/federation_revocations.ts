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
    const reason = await whyRevoked(deps, token, now);
    if (reason === OUT_OF_REACH) {
      outOfReach.add(list);
      continue;
    }
    if (reason === undefined) continue;
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

const OUT_OF_REACH = Symbol("out of reach");

/** Why the token is to be revoked now; undefined: it stands; OUT_OF_REACH: its list cannot be had now. */
async function whyRevoked(
  deps: AppDeps,
  token: { peer: string; domain: string; status: unknown },
  now: Date,
): Promise<string | undefined | typeof OUT_OF_REACH> {
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
      return OUT_OF_REACH;
    }
    return `revoked at ${token.peer}`;
  }
}
