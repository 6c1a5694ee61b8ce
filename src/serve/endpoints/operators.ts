/**
 * Operators: registration (a request signed by the new key), the DNS record
 * that proves the domain, and its verification by a real TXT lookup.
 */
import {
  dnsRecordName,
  dnsRecordValue,
  txtAnswerRefusal,
} from "../../core/dns_challenge.ts";
import { parseDomain } from "../../core/domain.ts";
import { hex, randomToken } from "../../core/encoding.ts";
import { fail } from "../../core/errors.ts";
import { thumbprint } from "../../core/keys.ts";
import { DuplicateError, type OperatorRecord } from "../../store/store.ts";
import { audit, auditEvent } from "../audit.ts";
import type { AppDeps } from "../context.ts";
import { json, readJson, requireString } from "../http.ts";
import {
  authenticateRequest,
  requireNewKey,
  requireOperator,
} from "../request_auth.ts";

export function operatorView(operator: OperatorRecord) {
  return {
    operator_id: operator.id,
    domain: operator.domain,
    verified: operator.verifiedAt !== undefined,
    verified_at: operator.verifiedAt?.toISOString() ?? null,
  };
}

async function dnsRecord(operator: OperatorRecord) {
  return {
    name: dnsRecordName(operator.domain),
    type: "TXT",
    value: await dnsRecordValue(operator.dnsChallenge, operator.thumbprint),
  };
}

/** `POST /v1/operators` {domain}, signed with the new operator key (`jwk` header). */
export async function registerOperator(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const { value, raw } = await readJson(request);
  const signer = requireNewKey(
    await authenticateRequest(request, raw, deps),
    "operator registration",
  );
  // Every malformed domain (too long, control or format characters) is
  // ERR_INVALID_DOMAIN from parseDomain, which checks the length first and
  // takes ASCII letters, digits and hyphens only: hence `opaque` here, and a
  // raw cap that only refuses absurd input.
  const domain = parseDomain(
    requireString(value, "domain", 1024, { opaque: true }),
  );
  const operator: OperatorRecord = {
    id: "op_" + hex(crypto.getRandomValues(new Uint8Array(16))),
    domain,
    publicJwk: signer.publicJwk,
    thumbprint: await thumbprint(signer.publicJwk),
    dnsChallenge: randomToken(),
    createdAt: deps.now(),
  };
  try {
    await deps.store.createOperator(
      operator,
      auditEvent(deps, {
        actor: operator.id,
        action: "operator.register",
        target: domain,
      }),
    );
  } catch (error) {
    if (error instanceof DuplicateError) {
      fail(
        "ERR_OPERATOR_EXISTS",
        "an operator with this key is already registered",
      );
    }
    throw error;
  }
  return json({
    ...operatorView(operator),
    dns_record: await dnsRecord(operator),
  }, 201);
}

export async function getOperator(
  id: string,
  deps: AppDeps,
): Promise<Response> {
  const operator = await deps.store.getOperator(id);
  if (!operator) {
    fail("ERR_OPERATOR_NOT_FOUND", `operator ${id} is not registered`);
  }
  return json(operatorView(operator));
}

async function signedByOperator(id: string, request: Request, deps: AppDeps) {
  const raw = request.method === "GET"
    ? new Uint8Array(0)
    : (await readJson(request)).raw;
  const signer = requireOperator(await authenticateRequest(request, raw, deps));
  if (signer.id !== id) {
    fail("ERR_FORBIDDEN", "operators act only on themselves");
  }
  return signer.operator;
}

/** `GET /v1/operators/{id}/dns-record`, signed by that operator. */
export async function getDnsRecord(
  id: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const operator = await signedByOperator(id, request, deps);
  return json({
    ...operatorView(operator),
    dns_record: await dnsRecord(operator),
  });
}

/** `POST /v1/operators/{id}/verify`, signed by that operator: looks the TXT record up now. */
export async function verifyDomain(
  id: string,
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const operator = await signedByOperator(id, request, deps);
  const record = await dnsRecord(operator);
  const answers = await deps.resolveTxt(record.name);
  const refusal = txtAnswerRefusal(record.name, answers, record.value);
  if (refusal) {
    await audit(deps, {
      actor: id,
      action: "operator.verify",
      target: operator.domain,
      outcome: "denied",
      reason: refusal.code,
    });
    fail(refusal.code, refusal.message);
  }
  const verified = auditEvent(deps, {
    actor: id,
    action: "operator.verify",
    target: operator.domain,
  });
  if (!await deps.store.markOperatorVerified(id, deps.now(), verified)) {
    await audit(deps, {
      actor: id,
      action: "operator.verify",
      target: operator.domain,
      outcome: "denied",
      reason: "ERR_DOMAIN_TAKEN",
    });
    fail(
      "ERR_DOMAIN_TAKEN",
      `${operator.domain} is already verified by another operator`,
    );
  }
  return json({
    ...operatorView((await deps.store.getOperator(id))!),
    dns_record: record,
  });
}
