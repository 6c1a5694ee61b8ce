/**
 * Agent lifecycle, as operator actions signed with the operator's key:
 * suspend (temporary), reactivate, revoke (permanent). Leaving `active`
 * revokes every live token of the agent at once, so they introspect
 * inactive and stay so after a reactivation; only new tokens work then.
 */
import { parseAgentDid } from "../../core/did.ts";
import { fail } from "../../core/errors.ts";
import type {
  AgentRecord,
  AgentStatus,
  TokenRecord,
} from "../../store/store.ts";
import { audit, auditEvent } from "../audit.ts";
import type { AppDeps } from "../context.ts";
import { json, optionalString, readJson } from "../http.ts";
import { authenticateRequest, requireOperator } from "../request_auth.ts";
import { agentView } from "./agents.ts";

export type LifecycleAction = "suspend" | "reactivate" | "revoke";

const TARGET: Record<LifecycleAction, AgentStatus> = {
  suspend: "suspended",
  reactivate: "active",
  revoke: "revoked",
};

/** `POST /v1/agents/{did}/{suspend|reactivate|revoke}` {reason?}, signed by the agent's operator. */
export async function changeAgentStatus(
  action: LifecycleAction,
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const { value, raw } = await readJson(request);
  const signer = requireOperator(await authenticateRequest(request, raw, deps));
  const did = parseAgentDid(didText);
  const reason = optionalString(value, "reason", 200);
  const agent = await deps.store.getAgent(did.did);
  if (!agent) fail("ERR_AGENT_NOT_FOUND", `agent ${did.did} is not registered`);
  const denied = async (code: "ERR_FORBIDDEN" | "ERR_AGENT_REVOKED") => {
    await audit(deps, {
      actor: signer.id,
      action: `agent.${action}`,
      target: agent.did,
      outcome: "denied",
      reason: code,
    });
  };
  if (agent.operatorId !== signer.id) {
    await denied("ERR_FORBIDDEN");
    fail("ERR_FORBIDDEN", `agent ${agent.did} belongs to another operator`);
  }
  if (agent.status === "revoked") {
    await denied("ERR_AGENT_REVOKED");
    fail("ERR_AGENT_REVOKED", `agent ${agent.did} is revoked for good`);
  }
  const status = TARGET[action];
  const at = deps.now();
  const tokensRevoked = await deps.store.changeAgentStatus(
    agent.did,
    status,
    { at, by: signer.id, reason },
    auditEvent(deps, {
      actor: signer.id,
      action: `agent.${action}`,
      target: agent.did,
      reason,
    }),
  );
  if (tokensRevoked) deps.statusLists.revoked();
  if (tokensRevoked === undefined) {
    // A revocation committed since the read above.
    await denied("ERR_AGENT_REVOKED");
    fail("ERR_AGENT_REVOKED", `agent ${agent.did} is revoked for good`);
  }
  const updated = (await deps.store.getAgent(agent.did))!;
  return json({ ...statusView(updated), tokens_revoked: tokensRevoked });
}

function statusView(agent: AgentRecord) {
  return {
    ...agentView(agent),
    status_changed_at: agent.statusChange?.at.toISOString() ?? null,
    status_changed_by: agent.statusChange?.by ?? null,
    reason: agent.statusChange?.reason ?? null,
  };
}

function tokenView(token: TokenRecord) {
  return {
    jti: token.jti,
    client_id: token.clientId,
    // A delegated token's subject: the agent it acted for.
    ...(token.subject && { sub: token.subject }),
    scope: token.scope,
    expires_at: token.expiresAt.toISOString(),
    revoked_at: token.revokedAt?.toISOString() ?? null,
    revoked_by: token.revokedBy ?? null,
    reason: token.revokeReason ?? null,
  };
}

/** `GET /v1/operators/{id}/revocations`, signed by that operator. */
export async function listRevocations(
  id: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const signer = requireOperator(
    await authenticateRequest(request, new Uint8Array(0), deps),
  );
  if (signer.id !== id) {
    fail("ERR_FORBIDDEN", "operators read only their own revocations");
  }
  // The list is the domain's: anyone may register an operator for a domain,
  // only its verified owner may read it.
  if (!signer.operator.verifiedAt) {
    fail(
      "ERR_OPERATOR_NOT_VERIFIED",
      `verify ${signer.operator.domain} before reading its revocations`,
    );
  }
  const { agents, tokens } = await deps.store.listRevocations(
    signer.operator,
    deps.now(),
  );
  return json({
    domain: signer.operator.domain,
    agents: agents.map(statusView),
    tokens: tokens.map(tokenView),
  });
}
