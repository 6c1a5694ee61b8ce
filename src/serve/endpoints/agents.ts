/**
 * Agents: registration under an operator of the same domain (a request signed
 * by the agent's own key), public status, the DID document, and grants set by
 * the operator (deny by default: an agent without a grant gets no token).
 */
import { didMatchesKey, parseAgentDid } from "../../core/did.ts";
import { didDocument } from "../../core/did_document.ts";
import { fail } from "../../core/errors.ts";
import { thumbprint } from "../../core/keys.ts";
import { verifyKeyRotationStatement } from "../../core/key_rotation.ts";
import { parseScopeList } from "../../core/scope.ts";
import { type AgentRecord, DuplicateError } from "../../store/store.ts";
import { audit, auditEvent } from "../audit.ts";
import { OPERATOR_ID, requireActive } from "../clients.ts";
import type { AppDeps } from "../context.ts";
import { json, readJson, requireString } from "../http.ts";
import {
  authenticateRequest,
  requireNewKey,
  requireOperator,
  type Signer,
} from "../request_auth.ts";

export function agentView(agent: AgentRecord) {
  return {
    did: agent.did,
    domain: agent.domain,
    operator_id: agent.operatorId,
    status: agent.status,
    created_at: agent.createdAt.toISOString(),
  };
}

/** `POST /v1/agents` {did, operator_id}, signed by the agent's key (`jwk` header). */
export async function registerAgent(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const { value, raw } = await readJson(request);
  const signer = requireNewKey(
    await authenticateRequest(request, raw, deps),
    "agent registration",
  );
  const did = parseAgentDid(requireString(value, "did", 300));
  const operatorId = requireString(value, "operator_id", 64);
  if (!OPERATOR_ID.test(operatorId)) {
    fail(
      "ERR_INVALID_REQUEST",
      `operator_id ${JSON.stringify(operatorId)} is malformed`,
    );
  }
  if (!await didMatchesKey(did, signer.publicJwk)) {
    fail(
      "ERR_INVALID_DID",
      "the DID is not derived from the key that signed the request",
    );
  }
  const operator = await deps.store.getOperator(operatorId);
  if (!operator) {
    fail("ERR_OPERATOR_NOT_FOUND", `operator ${operatorId} is not registered`);
  }
  if (operator.domain !== did.domain) {
    await audit(deps, {
      actor: did.did,
      action: "agent.register",
      target: operatorId,
      outcome: "denied",
      reason: "ERR_DOMAIN_MISMATCH",
    });
    fail(
      "ERR_DOMAIN_MISMATCH",
      `agent domain ${did.domain} is not the operator's domain ${operator.domain}`,
    );
  }
  const existing = await deps.store.getAgent(did.did);
  if (existing?.status === "revoked") {
    fail(
      "ERR_AGENT_REVOKED",
      `agent ${did.did} was revoked and cannot be registered again`,
    );
  }
  const agent: AgentRecord = {
    did: did.did,
    domain: did.domain,
    operatorId,
    publicJwk: signer.publicJwk,
    createdAt: deps.now(),
    status: "active",
  };
  try {
    await deps.store.createAgent(
      agent,
      auditEvent(deps, {
        actor: did.did,
        action: "agent.register",
        target: operatorId,
      }),
    );
  } catch (error) {
    if (error instanceof DuplicateError) {
      fail("ERR_AGENT_EXISTS", `agent ${did.did} is already registered`);
    }
    throw error;
  }
  return json(agentView(agent), 201);
}

export async function findAgent(
  didText: string,
  deps: AppDeps,
): Promise<AgentRecord> {
  const did = parseAgentDid(didText);
  const agent = await deps.store.getAgent(did.did);
  if (!agent) fail("ERR_AGENT_NOT_FOUND", `agent ${did.did} is not registered`);
  return agent;
}

/** What only the agent itself and its operator may read (`what`: "its grant"). */
export function requireAgentOrItsOperator(
  signer: Signer,
  agent: AgentRecord,
  what: string,
): void {
  const allowed =
    (signer.kind === "operator" && signer.id === agent.operatorId) ||
    (signer.kind === "agent" && signer.id === agent.did);
  if (!allowed) {
    fail("ERR_FORBIDDEN", `only the agent and its operator may read ${what}`);
  }
}

export async function getAgent(did: string, deps: AppDeps): Promise<Response> {
  return json(agentView(await findAgent(did, deps)));
}

/**
 * `GET /v1/agents/{did}/did.json`: the W3C DID document of the agent. A
 * revoked agent's DID is deactivated: `410 Gone` with a DID resolution result
 * whose document metadata says `deactivated: true` (DID Core §7.1.3, the DID
 * Resolution HTTP(S) binding).
 */
export async function getAgentDidDocument(
  did: string,
  deps: AppDeps,
): Promise<Response> {
  const agent = await findAgent(did, deps);
  if (agent.status === "revoked") {
    return json(
      {
        didDocument: didDocument(agent),
        didDocumentMetadata: {
          deactivated: true,
          updated: agent.statusChange?.at.toISOString(),
        },
        didResolutionMetadata: { contentType: "application/did+json" },
      },
      410,
      { "Content-Type": "application/did-resolution+json" },
    );
  }
  return json(didDocument(agent), 200, {
    "Content-Type": "application/did+json",
  });
}

/**
 * `PUT /v1/agents/{did}/scopes` {scopes: [...], require_attestation?: [...]},
 * signed by the agent's operator: replaces the grant's scopes.
 * `require_attestation` names attesters (each one this server trusts, `serve
 * --client-attester`) of which every token request of the agent must carry a
 * client attestation; `[]` asks for none; absent, the grant's stay as they
 * are (adding a scope does not drop the requirement).
 */
export async function setAgentScopes(
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const { value, raw } = await readJson(request);
  const operator = requireOperator(
    await authenticateRequest(request, raw, deps),
  );
  const agent = await findAgent(didText, deps);
  if (agent.operatorId !== operator.id) {
    await audit(deps, {
      actor: operator.id,
      action: "grant.set",
      target: agent.did,
      outcome: "denied",
      reason: "ERR_FORBIDDEN",
    });
    fail("ERR_FORBIDDEN", `agent ${agent.did} belongs to another operator`);
  }
  if (!operator.operator.verifiedAt) {
    fail(
      "ERR_OPERATOR_NOT_VERIFIED",
      `verify ${operator.operator.domain} before granting scopes`,
    );
  }
  if (
    !Array.isArray(value.scopes) ||
    value.scopes.some((s) => typeof s !== "string")
  ) {
    fail("ERR_INVALID_REQUEST", "scopes must be an array of strings");
  }
  const scopes = parseScopeList(value.scopes as string[]);
  if (scopes.length === 0) {
    fail("ERR_INVALID_SCOPE_SYNTAX", "give at least one scope");
  }
  const attesters = requiredAttesters(value.require_attestation, deps);
  await deps.store.setAgentScopes(
    agent.did,
    scopes,
    deps.now(),
    auditEvent(deps, {
      actor: operator.id,
      action: "grant.set",
      target: agent.did,
      reason: attesters === undefined
        ? scopes.join(" ")
        : `${scopes.join(" ")}; attested by ${
          attesters.join(" or ") || "none"
        }`,
    }),
    attesters,
  );
  const grant = await deps.store.getAgentScopes(agent.did);
  return json({
    did: agent.did,
    scopes,
    require_attestation: grant?.attesters ?? [],
  });
}

const MAX_REQUIRED_ATTESTERS = 8;

/**
 * The attesters a grant asks for: ones this server trusts, exactly as it
 * names them; undefined (absent) leaves the grant's as they are.
 */
function requiredAttesters(
  value: unknown,
  deps: AppDeps,
): string[] | undefined {
  if (value === undefined) return undefined;
  if (value === null) return [];
  if (
    !Array.isArray(value) || value.length > MAX_REQUIRED_ATTESTERS ||
    value.some((attester) => typeof attester !== "string")
  ) {
    fail(
      "ERR_INVALID_REQUEST",
      `require_attestation must be an array of at most ${MAX_REQUIRED_ATTESTERS} attester URLs`,
    );
  }
  for (const attester of value as string[]) {
    // An attester the server does not trust could never be met: the agent
    // would get no token at all, and nobody would be told why.
    if (!deps.clientAttesters.trusts(attester)) {
      fail(
        "ERR_INVALID_REQUEST",
        `this server takes no client attestations of ${
          JSON.stringify(attester)
        } (it trusts: ${deps.clientAttesters.issuers.join(", ") || "none"})`,
      );
    }
  }
  return [...new Set(value as string[])];
}

/** `GET /v1/agents/{did}/scopes`, signed by the agent or its operator. */
export async function getAgentScopes(
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const signer = await authenticateRequest(request, new Uint8Array(0), deps);
  const agent = await findAgent(didText, deps);
  requireAgentOrItsOperator(signer, agent, "its grant");
  const grant = await deps.store.getAgentScopes(agent.did);
  return json({
    did: agent.did,
    scopes: grant?.scopes ?? [],
    require_attestation: grant?.attesters ?? [],
    updated_at: grant?.updatedAt.toISOString() ?? null,
  });
}

/**
 * `POST /v1/agents/{did}/key` {statement}: the agent rotates its own key.
 * Signed with the current key; the statement is signed with the new one.
 */
export async function rotateAgentKey(
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const { value, raw } = await readJson(request);
  const signer = await authenticateRequest(request, raw, deps);
  const agent = await findAgent(didText, deps);
  if (signer.kind !== "agent" || signer.id !== agent.did) {
    fail(
      "ERR_FORBIDDEN",
      "an agent's key is rotated by the agent itself, signing with its current key",
    );
  }
  const next = await verifyKeyRotationStatement(
    requireString(value, "statement", 4096),
    {
      did: agent.did,
      current: agent.publicJwk,
      now: deps.now(),
    },
  );
  const rotated = auditEvent(deps, {
    actor: agent.did,
    action: "agent.rotate_key",
    target: agent.did,
    reason: `${await thumbprint(agent.publicJwk)} -> ${await thumbprint(next)}`,
  });
  if (
    !await deps.store.rotateAgentKey(
      agent.did,
      agent.publicJwk,
      next,
      deps.now(),
      rotated,
    )
  ) {
    // A rotation or a status change committed since the agent was read.
    const now = await deps.store.getAgent(agent.did);
    if (now) requireActive(now);
    fail("ERR_FORBIDDEN", "the agent's key changed meanwhile; retry");
  }
  return json({
    ...agentView({ ...agent, publicJwk: next }),
    key_thumbprint: await thumbprint(next),
  });
}
