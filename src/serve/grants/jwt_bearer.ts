/**
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1):
 * workload federation. A workload without an agent key — a Kubernetes pod, a
 * CI job — presents the JWT its platform gave it (`assertion`) and names the
 * agent (`client_id`); the token is the agent's when a trusted platform
 * signed the JWT and the agent's operator bound its `iss` and `sub` to the
 * agent. The workload token is reused by design until it expires, so it is
 * not consumed; the agent's token ends when it does. One that names its
 * issuer's status list (another auth4agent issuer's) is not traded once that
 * list says it is revoked.
 */
import { parseAgentDid } from "../../core/did.ts";
import { Auth4AgentError, fail } from "../../core/errors.ts";
import { unverifiedIssuer } from "../../core/jws.ts";
import {
  inspectWorkloadToken,
  requireAudience,
  verifyWorkloadToken,
} from "../../core/workload_token.ts";
import { requireActive } from "../clients.ts";
import type { AppDeps } from "../context.ts";
import type { Authenticated } from "./token_request.ts";

export { JWT_BEARER_GRANT } from "../../core/workload_token.ts";

/**
 * RFC 7523 §3.1: the assertion is the credential; client authentication
 * beside it would be a second, conflicting identity.
 */
export function refuseClientAuthentication(
  request: Request,
  params: Map<string, string>,
): void {
  if (
    params.has("client_assertion") || params.has("client_assertion_type") ||
    request.headers.has("Authorization")
  ) {
    fail(
      "ERR_INVALID_REQUEST",
      "the jwt-bearer grant authenticates with its assertion alone: send no client authentication",
    );
  }
}

export async function workloadAuthentication(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
): Promise<Authenticated> {
  refuseClientAuthentication(request, params);
  if (params.has("may_act")) {
    fail(
      "ERR_INVALID_REQUEST",
      "a workload asks for its agent's tokens, not for delegations (may_act)",
    );
  }
  const did = params.get("client_id");
  const iss = deps.federation.peers.length > 0
    ? unverifiedIssuer(params.get("assertion"))
    : undefined;
  if (
    did === undefined && iss !== undefined && !deps.workloadIssuers.trusts(iss)
  ) {
    // No client_id, and no platform's token: most likely a federated token
    // whose iss the federation file does not write exactly as the token.
    fail(
      "ERR_FEDERATION_NOT_TRUSTED",
      `${iss} is no federation peer of this issuer (the federation file names each as its tokens' iss, byte for byte)`,
    );
  }
  if (did === undefined) {
    fail(
      "ERR_INVALID_REQUEST",
      "client_id (the DID of the agent the workload is bound to) is required",
    );
  }
  try {
    parseAgentDid(did);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_INVALID_REQUEST",
      `client_id must be an agent DID: ${(cause as Error).message}`,
    );
  }
  const now = deps.now();
  const token = inspectWorkloadToken(params.get("assertion"));
  const key = await deps.workloadIssuers.key(token, now);
  const claims = verifyWorkloadToken(token, key, { now });
  // RFC 7523 §3 item 3: meant for this issuer, whatever else it names.
  requireAudience(claims, deps.issuer);
  const standing = await deps.store.getAgentStanding(did);
  const binding = standing &&
    (await deps.store.listWorkloadIdentities(did)).find((identity) =>
      identity.issuer === claims.iss && identity.subject === claims.sub
    );
  if (!standing || !binding) {
    fail(
      "ERR_WORKLOAD_NOT_BOUND",
      `no workload identity of ${did} is ${claims.iss} ${
        JSON.stringify(claims.sub)
      }: its operator binds one with \`auth4agent workload add\``,
    );
  }
  if (binding.audience !== undefined) requireAudience(claims, binding.audience);
  // Charged only now: a token of the platform that is not bound to this
  // agent cannot spend the agent's budget.
  deps.limits.perClient.take(`client:${did}`, now.getTime());
  requireActive(standing.agent);
  await deps.workloadStatusLists.requireUnrevoked(
    claims.iss,
    token.payload.status,
    now,
  );
  return {
    client: standing,
    singleUse: { workload: { issuer: claims.iss, subject: claims.sub } },
    notAfter: claims.exp,
    via: `workload ${claims.iss} ${claims.sub}`,
  };
}
