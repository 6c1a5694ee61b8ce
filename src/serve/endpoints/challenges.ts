/**
 * `POST /v1/challenges` {client_id}: a single-use, short-lived nonce bound to
 * one registered, active agent. The agent signs it into a client assertion
 * (`nonce` claim, `aud` = the issuer) and trades that at the token endpoint.
 *
 * The metadata names this endpoint `challenge_endpoint`, which is also the
 * client attestation draft's (§6.3): a POST without a body, where this
 * server takes client attestations, gets `{attestation_challenge}` for a PoP.
 */
import { parseAgentDid } from "../../core/did.ts";
import { randomToken } from "../../core/encoding.ts";
import { fail } from "../../core/errors.ts";
import { requireActive } from "../clients.ts";
import { type AppDeps, endpointUrl, PATHS } from "../context.ts";
import { coveredByItsWrite } from "../durability.ts";
import { newAttestationChallenge } from "../client_attestation.ts";
import { json, readBody, readJson, requireString } from "../http.ts";

export async function createChallenge(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  if (
    deps.clientAttesters.issuers.length > 0 &&
    !request.headers.has("Content-Type") &&
    (await readBody(request)).length === 0
  ) {
    const challenge = await newAttestationChallenge(deps);
    return coveredByItsWrite(json({ attestation_challenge: challenge }));
  }
  const { value } = await readJson(request);
  const did = parseAgentDid(requireString(value, "client_id", 300));
  // The standing, not getAgent: the SQLite store keeps it between requests.
  const agent = (await deps.store.getAgentStanding(did.did))?.agent;
  if (!agent) fail("ERR_AGENT_NOT_FOUND", `agent ${did.did} is not registered`);
  requireActive(agent);
  const nonce = randomToken();
  const expiresAt = new Date(deps.now().getTime() + deps.challengeTtl * 1000);
  await deps.store.createChallenge({
    nonce,
    kind: "token_challenge",
    subject: did.did,
    expiresAt,
  });
  // Read before the write, which is durable: no need to wait for later commits.
  return coveredByItsWrite(json({
    nonce,
    client_id: did.did,
    audience: deps.issuer,
    token_endpoint: endpointUrl(deps, PATHS.token),
    expires_in: deps.challengeTtl,
    expires_at: expiresAt.toISOString(),
  }, 201));
}
