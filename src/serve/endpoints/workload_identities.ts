/**
 * `/v1/agents/{did}/workload-identities`: the platform identities (a
 * trusted platform's `iss` and a `sub` of its tokens) that may obtain the
 * agent's tokens without its key — workload federation (grants/jwt_bearer.ts).
 * The agent's operator binds and unbinds them with signed requests, as it
 * grants scopes; the operator and the agent may list them.
 */
import { utf8Length } from "../../core/encoding.ts";
import { fail } from "../../core/errors.ts";
import {
  MAX_WORKLOAD_IDENTITIES,
  type WorkloadIdentityRecord,
} from "../../store/store.ts";
import { audit, auditEvent } from "../audit.ts";
import type { AppDeps } from "../context.ts";
import { hasHiddenCharacters, json, readJson, requireString } from "../http.ts";
import {
  authenticateRequest,
  requireOperator,
  type Signer,
} from "../request_auth.ts";
import { findAgent, requireAgentOrItsOperator } from "./agents.ts";

/**
 * In bytes of UTF-8: the removal names the binding in its signed URL,
 * percent-encoded (up to 3 characters a byte), and the request's signature
 * must stay under MAX_JWS_LENGTH with the longest subject and issuer.
 */
const MAX_SUBJECT_BYTES = 1024;
const MAX_AUDIENCE_BYTES = 512;

/** A subject: 1 to MAX_SUBJECT_BYTES bytes, no control or format characters. */
function requireSubject(source: Record<string, unknown> | Map<string, string>) {
  const subject = requireString(source, "subject", MAX_SUBJECT_BYTES);
  if (utf8Length(subject) > MAX_SUBJECT_BYTES) {
    fail(
      "ERR_INVALID_REQUEST",
      `subject must be at most ${MAX_SUBJECT_BYTES} bytes of UTF-8`,
    );
  }
  return subject;
}

/** A subject or issuer in a message: long ones cut short. */
function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function view(identity: WorkloadIdentityRecord) {
  return {
    issuer: identity.issuer,
    subject: identity.subject,
    audience: identity.audience ?? null,
    created_at: identity.createdAt.toISOString(),
    created_by: identity.createdBy,
  };
}

/** The agent, when the signer is its operator with a verified domain; audited when refused. */
async function ownAgent(
  signer: Signer,
  didText: string,
  action: string,
  deps: AppDeps,
) {
  const operator = requireOperator(signer);
  const agent = await findAgent(didText, deps);
  if (agent.operatorId !== operator.id) {
    await audit(deps, {
      actor: operator.id,
      action,
      target: agent.did,
      outcome: "denied",
      reason: "ERR_FORBIDDEN",
    });
    fail("ERR_FORBIDDEN", `agent ${agent.did} belongs to another operator`);
  }
  if (!operator.operator.verifiedAt) {
    fail(
      "ERR_OPERATOR_NOT_VERIFIED",
      `verify ${operator.operator.domain} before binding workload identities`,
    );
  }
  return { agent, operator };
}

/** `POST …/workload-identities` {issuer, subject, audience?}, signed by the agent's operator. */
export async function addWorkloadIdentity(
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const { value, raw } = await readJson(request);
  const signer = await authenticateRequest(request, raw, deps);
  const { agent, operator } = await ownAgent(
    signer,
    didText,
    "workload.add",
    deps,
  );
  // A misspelt member (`audiance`) would bind with the default audience.
  const unknown = Object.keys(value).find((name) =>
    !["issuer", "subject", "audience"].includes(name)
  );
  if (unknown !== undefined) {
    fail(
      "ERR_INVALID_REQUEST",
      `unknown member ${
        JSON.stringify(unknown)
      }: send issuer, subject and, optionally, audience`,
    );
  }
  const issuer = requireString(value, "issuer", 2048);
  if (!deps.workloadIssuers.trusts(issuer)) {
    fail(
      "ERR_WORKLOAD_ISSUER_UNTRUSTED",
      `this issuer does not trust workload tokens of ${issuer}; it trusts ${
        deps.workloadIssuers.issuers.join(", ") || "none"
      } (serve --workload-issuer)`,
    );
  }
  const subject = requireSubject(value);
  let audience: string | undefined;
  if (value.audience !== undefined && value.audience !== null) {
    if (typeof value.audience !== "string" || value.audience === "") {
      fail(
        "ERR_INVALID_REQUEST",
        "audience, when given, is a non-empty string",
      );
    }
    audience = requireString(value, "audience", 4 * MAX_AUDIENCE_BYTES);
    if (
      utf8Length(audience) > MAX_AUDIENCE_BYTES || hasHiddenCharacters(audience)
    ) {
      fail(
        "ERR_INVALID_REQUEST",
        `audience must be at most ${MAX_AUDIENCE_BYTES} bytes of UTF-8, without control or format characters`,
      );
    }
  }
  const identity: WorkloadIdentityRecord = {
    agentDid: agent.did,
    issuer,
    subject,
    ...(audience !== undefined && { audience }),
    createdAt: deps.now(),
    createdBy: operator.id,
  };
  const outcome = await deps.store.addWorkloadIdentity(
    identity,
    auditEvent(deps, {
      actor: operator.id,
      action: "workload.add",
      target: agent.did,
      reason: `${issuer} ${subject}`,
    }),
  );
  if (outcome === "exists") {
    fail(
      "ERR_WORKLOAD_IDENTITY_EXISTS",
      `${issuer} ${shown(subject)} is bound to ${agent.did} already`,
    );
  }
  if (outcome === "full") {
    fail(
      "ERR_WORKLOAD_IDENTITY_LIMIT",
      `an agent holds at most ${MAX_WORKLOAD_IDENTITIES} workload identities`,
    );
  }
  return json({ did: agent.did, ...view(identity) }, 201);
}

/** `GET …/workload-identities`, signed by the agent or its operator. */
export async function listWorkloadIdentities(
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const signer = await authenticateRequest(request, new Uint8Array(0), deps);
  const agent = await findAgent(didText, deps);
  requireAgentOrItsOperator(signer, agent, "its workload identities");
  const identities = await deps.store.listWorkloadIdentities(agent.did);
  return json({
    did: agent.did,
    workload_identities: identities.map(view),
    trusted_issuers: deps.workloadIssuers.issuers,
  });
}

/** `DELETE …/workload-identities?issuer=…&subject=…`, signed by the agent's operator. */
export async function removeWorkloadIdentity(
  didText: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const signer = await authenticateRequest(request, new Uint8Array(0), deps);
  const { agent, operator } = await ownAgent(
    signer,
    didText,
    "workload.remove",
    deps,
  );
  const query = new Map(new URL(request.url).searchParams);
  const issuer = requireString(query, "issuer", 2048);
  // Any stored subject, also one bound before subjects were counted in bytes.
  const subject = requireString(query, "subject", 4 * MAX_SUBJECT_BYTES);
  const removed = await deps.store.removeWorkloadIdentity(
    agent.did,
    issuer,
    subject,
    auditEvent(deps, {
      actor: operator.id,
      action: "workload.remove",
      target: agent.did,
      reason: `${issuer} ${subject}`,
    }),
  );
  if (!removed) {
    fail(
      "ERR_WORKLOAD_IDENTITY_NOT_FOUND",
      `${issuer} ${shown(subject)} is not bound to ${agent.did}`,
    );
  }
  return json({ did: agent.did, issuer, subject, removed: true });
}
